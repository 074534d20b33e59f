; type: xdp
; map: rb ringbuf 0 0 4096
r1 = 0xfeed0001 ll
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = 7
*(u64 *)(r0 + 12) = r1
r1 = r0
r2 = 0
call 133
out:
r0 = 0
exit
