; type: xdp
stdw [r10-520], 5
mov r0, 0
exit
