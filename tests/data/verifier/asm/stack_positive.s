; type: xdp
stw [r10+0], 1
mov r0, 0
exit
