; type: cgroup_sock_addr
; attach: cgroup_inet4_connect
r2 = *(u32 *)(r1 + 4)
r3 = *(u16 *)(r1 + 24)
r2 = 0x0100007f
*(u32 *)(r1 + 4) = r2
r0 = 1
exit
