; type: cgroup_sock
; attach: cgroup_inet4_post_bind
r2 = *(u32 *)(r1 + 24)
r3 = *(u32 *)(r1 + 44)
r0 = 1
exit
