; type: xdp
mov r0, 0
