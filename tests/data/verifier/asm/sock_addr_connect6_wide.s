; type: cgroup_sock_addr
; attach: cgroup_inet6_connect
r2 = *(u64 *)(r1 + 8)
r3 = *(u64 *)(r1 + 16)
*(u64 *)(r1 + 16) = r3
r0 = 1
exit
