; type: cgroup_sock_addr
; attach: cgroup_inet4_connect
r2 = *(u64 *)(r1 + 64)
r3 = *(u32 *)(r2 + 4)
r0 = 1
exit
