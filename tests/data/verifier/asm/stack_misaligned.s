; type: xdp
stxdw [r10-4], r1
mov r0, 0
exit
