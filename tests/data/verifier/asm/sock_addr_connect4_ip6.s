; type: cgroup_sock_addr
; attach: cgroup_inet4_connect
r2 = *(u32 *)(r1 + 8)
r0 = 1
exit
