; type: xdp
mov r0, 0
jeq r0, 0, +1
lddw r1, 0x1122334455667788
exit
