; type: cgroup_sock
; attach: cgroup_inet_sock_create
r2 = 7
*(u32 *)(r1 + 16) = r2
r2 = *(u32 *)(r1 + 24)
r0 = 1
exit
