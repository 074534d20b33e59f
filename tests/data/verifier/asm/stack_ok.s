; type: xdp
stdw [r10-8], 5
ldxdw r0, [r10-8]
exit
