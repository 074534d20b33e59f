; type: xdp
mov r0, 0
ja +5
exit
