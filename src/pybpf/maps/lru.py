"""The kernel's LRU algorithm for LRU hash maps (kernel/bpf/bpf_lru_list.c), node for node.

Every element slot of an LRU map is a node on one list: the global active, inactive and free
lists, or (common LRU) a CPU's local free or pending list; BPF_F_NO_COMMON_LRU maps give each CPU
its own active/inactive/free lists instead. Program lookups set a node's reference bit; when a
free node is needed, pending nodes are flushed to the active (referenced) or inactive list, the
lists are rotated (referenced nodes get a second chance), and up to `target_free` nodes are
taken from the free list or reclaimed from the tail of the inactive list by evicting their keys.
Following these steps exactly makes pybpf evict the same keys as Linux for the same sequence of
operations on the same CPUs (larger maps reclaim several nodes at once, as the kernel does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

# list types (enum bpf_lru_list_type)
ACTIVE, INACTIVE, FREE, LOCAL_FREE, LOCAL_PENDING = 0, 1, 2, 3, 4
LOCAL_FREE_TARGET = 128
LOCAL_NR_SCANS = LOCAL_FREE_TARGET
PERCPU_FREE_TARGET = 4
PERCPU_NR_SCANS = PERCPU_FREE_TARGET


class _Lists:
    """Intrusive doubly linked lists over node numbers; each list has a sentinel node."""

    def __init__(self, nodes: int) -> None:
        self.prev: list[int] = list(range(nodes))
        self.next: list[int] = list(range(nodes))

    def new_head(self) -> int:
        head = len(self.prev)
        self.prev.append(head)
        self.next.append(head)
        return head

    def add(self, node: int, head: int) -> None:  # list_add: right after the head
        nxt = self.next[head]
        self.next[head] = node
        self.prev[node] = head
        self.next[node] = nxt
        self.prev[nxt] = node

    def delete(self, node: int) -> None:
        p, n = self.prev[node], self.next[node]
        self.next[p] = n
        self.prev[n] = p
        self.prev[node] = self.next[node] = node

    def move(self, node: int, head: int) -> None:  # list_move
        self.delete(node)
        self.add(node, head)

    def empty(self, head: int) -> bool:
        return self.next[head] == head

    def first(self, head: int) -> int | None:
        n = self.next[head]
        return None if n == head else n

    def reverse(self, head: int) -> Iterator[int]:
        """Nodes from the tail (oldest) to the head; safe against moving the current node."""
        node = self.prev[head]
        while node != head:
            before = self.prev[node]
            yield node
            node = before

    def forward(self, head: int) -> Iterator[int]:
        node = self.next[head]
        while node != head:
            after = self.next[node]
            yield node
            node = after


class _LruList:
    """struct bpf_lru_list: active, inactive and free lists with counts and a rotation cursor."""

    def __init__(self, links: _Lists) -> None:
        self.heads = [
            links.new_head(),
            links.new_head(),
            links.new_head(),
        ]  # ACTIVE, INACTIVE, FREE
        self.counts = [0, 0]
        self.next_inactive_rotation = self.heads[INACTIVE]


class KernelLru:
    """The LRU state of one map. `delete_key(node)` removes the node's element from the hash table
    and says whether it was there (the kernel's del_from_htab)."""

    def __init__(
        self, nodes: int, ncpus: int, *, percpu: bool, delete_key: Callable[[int], bool]
    ) -> None:
        self.links = _Lists(nodes)
        self.type = [FREE] * nodes
        self.ref = bytearray(nodes)
        self.cpu = [0] * nodes
        self.ncpus = ncpus
        self.percpu = percpu
        self.delete_key = delete_key
        if percpu:
            self.nr_scans = PERCPU_NR_SCANS
            self.lists = [_LruList(self.links) for _ in range(ncpus)]
            per_cpu = max(nodes // ncpus, 1)
            i = 0
            for cpu in range(ncpus):  # bpf_percpu_lru_populate
                while i < nodes:
                    self.cpu[i] = cpu
                    self.links.add(i, self.lists[cpu].heads[FREE])
                    i += 1
                    if i % per_cpu == 0:
                        break
            while i < nodes:  # leftovers stay with the last CPU
                self.cpu[i] = ncpus - 1
                self.links.add(i, self.lists[ncpus - 1].heads[FREE])
                i += 1
        else:
            self.nr_scans = LOCAL_NR_SCANS
            self.common = _LruList(self.links)
            self.local_free = [self.links.new_head() for _ in range(ncpus)]
            self.local_pending = [self.links.new_head() for _ in range(ncpus)]
            self.next_steal = list(range(ncpus))
            for i in range(nodes):  # bpf_common_lru_populate
                self.links.add(i, self.common.heads[FREE])
            self.target_free = min(max(nodes // ncpus // 2, 1), LOCAL_FREE_TARGET)

    # --- node moves (__bpf_lru_node_move*) ---------------------------------------------------
    def _move_in(self, lst: _LruList, node: int, tgt: int) -> None:
        lst.counts[tgt] += 1
        self.type[node] = tgt
        self.ref[node] = 0
        self.links.move(node, lst.heads[tgt])

    def _move_to_free(self, lst: _LruList, node: int, free_head: int, tgt_free: int) -> None:
        if lst.next_inactive_rotation == node:
            lst.next_inactive_rotation = self.links.prev[node]
        if self.type[node] < 2:
            lst.counts[self.type[node]] -= 1
        self.type[node] = tgt_free
        self.links.move(node, free_head)

    def _move(self, lst: _LruList, node: int, tgt: int) -> None:
        if self.type[node] != tgt:
            if self.type[node] < 2:
                lst.counts[self.type[node]] -= 1
            if tgt < 2:
                lst.counts[tgt] += 1
            self.type[node] = tgt
        self.ref[node] = 0
        if lst.next_inactive_rotation == node:
            lst.next_inactive_rotation = self.links.prev[node]
        self.links.move(node, lst.heads[tgt])

    # --- rotation and shrinking ----------------------------------------------------------------
    def _rotate_active(self, lst: _LruList) -> None:
        head = lst.heads[ACTIVE]
        first = self.links.first(head)
        for i, node in enumerate(self.links.reverse(head), start=1):
            self._move(lst, node, ACTIVE if self.ref[node] else INACTIVE)
            if i == self.nr_scans or node == first:
                break

    def _rotate_inactive(self, lst: _LruList) -> None:
        links = self.links
        inactive = lst.heads[INACTIVE]
        if links.empty(inactive):
            return
        last = links.next[lst.next_inactive_rotation]
        if last == inactive:
            last = links.next[last]
        cur = lst.next_inactive_rotation
        nxt = inactive
        i = 0
        while i < self.nr_scans:
            if cur == inactive:
                cur = links.prev[cur]
                continue
            nxt = links.prev[cur]
            if self.ref[cur]:
                self._move(lst, cur, ACTIVE)
            if cur == last:
                break
            cur = nxt
            i += 1
        lst.next_inactive_rotation = nxt

    def _rotate(self, lst: _LruList) -> None:
        if lst.counts[INACTIVE] < lst.counts[ACTIVE]:
            self._rotate_active(lst)
        self._rotate_inactive(lst)

    def _shrink(self, lst: _LruList, target: int, free_head: int, tgt_free: int) -> int:
        shrunk = 0
        for i, node in enumerate(self.links.reverse(lst.heads[INACTIVE]), start=1):
            if self.ref[node]:
                self._move(lst, node, ACTIVE)
            elif self.delete_key(node):
                self._move_to_free(lst, node, free_head, tgt_free)
                shrunk += 1
                if shrunk == target:
                    break
            if i == self.nr_scans:
                break
        if shrunk:
            return shrunk
        force = (
            lst.heads[INACTIVE] if not self.links.empty(lst.heads[INACTIVE]) else lst.heads[ACTIVE]
        )
        for node in self.links.reverse(force):  # ignore the reference bits
            if self.delete_key(node):
                self._move_to_free(lst, node, free_head, tgt_free)
                return 1
        return 0

    # --- the LRU API ---------------------------------------------------------------------------
    def set_ref(self, node: int) -> None:
        self.ref[node] = 1

    def pop_free(self, cpu: int) -> int | None:
        """A free node for a new element inserted from `cpu` (may evict other elements)."""
        cpu = cpu % self.ncpus
        return self._percpu_pop(cpu) if self.percpu else self._common_pop(cpu)

    def _percpu_pop(self, cpu: int) -> int | None:
        lst = self.lists[cpu]
        self._rotate(lst)
        free = lst.heads[FREE]
        if self.links.empty(free):
            self._shrink(lst, PERCPU_FREE_TARGET, free, FREE)
        node = self.links.first(free)
        if node is not None:
            self.ref[node] = 0
            self._move(lst, node, INACTIVE)
        return node

    def _common_pop(self, cpu: int) -> int | None:
        links = self.links
        node = self._local_pop_free(cpu)
        if node is None:
            self._pop_free_to_local(cpu)
            node = self._local_pop_free(cpu)
        if node is None:  # steal from the local lists of every CPU, round robin
            first = steal = self.next_steal[cpu]
            while True:
                node = self._local_pop_free(steal)
                if node is None:
                    node = self._local_pop_pending(steal)
                steal = (steal + 1) % self.ncpus
                if node is not None or steal == first:
                    break
            self.next_steal[cpu] = steal
        if node is not None:
            self.cpu[node] = cpu
            self.type[node] = LOCAL_PENDING
            self.ref[node] = 0
            links.add(node, self.local_pending[cpu])
        return node

    def _local_pop_free(self, cpu: int) -> int | None:
        node = self.links.first(self.local_free[cpu])
        if node is not None:
            self.links.delete(node)
        return node

    def _local_pop_pending(self, cpu: int) -> int | None:
        for force in (False, True):
            for node in self.links.reverse(self.local_pending[cpu]):
                if (force or not self.ref[node]) and self.delete_key(node):
                    self.links.delete(node)
                    return node
        return None

    def _pop_free_to_local(self, cpu: int) -> None:
        lst = self.common
        for node in self.links.reverse(self.local_pending[cpu]):  # __local_list_flush
            self._move_in(lst, node, ACTIVE if self.ref[node] else INACTIVE)
        self._rotate(lst)
        taken = 0
        for node in self.links.forward(lst.heads[FREE]):
            self._move_to_free(lst, node, self.local_free[cpu], LOCAL_FREE)
            taken += 1
            if taken == self.target_free:
                break
        if taken < self.target_free:
            self._shrink(lst, self.target_free - taken, self.local_free[cpu], LOCAL_FREE)

    def push_free(self, node: int) -> None:
        """A node whose element was deleted or replaced goes back to a free list."""
        if self.percpu:
            self._move(self.lists[self.cpu[node]], node, FREE)
            return
        if self.type[node] == LOCAL_PENDING:
            self.type[node] = LOCAL_FREE
            self.ref[node] = 0
            self.links.move(node, self.local_free[self.cpu[node]])
            return
        if self.type[node] in (FREE, LOCAL_FREE):
            return
        self._move(self.common, node, FREE)
