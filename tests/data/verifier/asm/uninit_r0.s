; type: xdp
exit
