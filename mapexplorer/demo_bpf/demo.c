/* mapexplorer demo: one BCC module that declares and fills most BPF map types.
 *
 * Rules for this file (see shared/KERNEL-NOTES.md): only tracepoint arguments, program contexts from
 * the uapi (xdp_md, __sk_buff, bpf_sock_ops, sk_reuseport_md) and helpers; never kernel struct fields
 * through headers (the installed headers do not match the running kernel). Maps created outside BCC
 * (bloom filter, reuseport array) arrive as fds through -D defines and are used with bpf_pseudo_fd.
 */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/udp.h>

#define COMM_LEN 16

/* ---- value types (named so the maps' BTF decodes them) ---------------------------------------- */

struct proc_stats {
    char comm[COMM_LEN];
    u32 tgid;
    u32 threads_seen;
    u64 syscalls;
    u64 reads;
    u64 writes;
    u64 opens;
    u64 first_seen_ns;
    u64 last_seen_ns;
};

struct last_syscall {
    u64 ts_ns;
    u32 syscall_nr;
    u32 cpu;
    char comm[COMM_LEN];
};

struct comm_key {
    char comm[COMM_LEN];
};

struct lpm_v4_key {
    u32 prefixlen;
    u8 addr[4];
};

#define ROUTE_LOCAL 1

struct route {
    u8 nexthop[4];
    u32 ifindex;
    u32 metric;
    u32 flags;
    char label[20];
    u64 packets;
    u64 bytes;
};

enum demo_event_kind {
    DEMO_EV_OPEN = 1,
    DEMO_EV_EXEC = 2,
    DEMO_EV_CLOSE = 3,
};

struct demo_event {
    u64 ts_ns;
    u32 pid;
    u32 tid;
    u32 uid;
    enum demo_event_kind kind;
    s32 kernel_stack_id;
    s32 user_stack_id;
    char comm[COMM_LEN];
    char filename[64];
};

struct exec_record {
    u64 ts_ns;
    u32 pid;
    u32 ppid_hint;
    char comm[COMM_LEN];
};

struct close_record {
    u64 ts_ns;
    u32 pid;
    s32 fd;
};

struct stack_key {
    u32 tgid;
    s32 kernel_stack_id;
    s32 user_stack_id;
    char comm[COMM_LEN];
};

struct cg_traffic {
    u64 ingress_packets;
    u64 ingress_bytes;
    u64 egress_packets;
    u64 egress_bytes;
};

struct sk_stats {
    u64 packets;
    u64 bytes;
    u64 first_seen_ns;
    u32 family;
    u32 protocol;
};

struct task_stats {
    u64 syscalls;
    u64 first_seen_ns;
    u64 last_seen_ns;
};

struct inode_tag {
    u64 tagged_at_ns;
    u32 tagger_pid;
    u32 classification;
    char label[16];
    u64 accesses;
};

struct sock_key {
    u32 local_port;
    u32 remote_port;
};

enum pcpu_event {
    PCPU_SYSCALL = 0,
    PCPU_OPEN = 1,
    PCPU_EXEC = 2,
    PCPU_IN_DEMO_CGROUP = 3,
    PCPU_TAIL_EVEN = 4,
    PCPU_TAIL_ODD = 5,
    PCPU_XDP_PACKET = 6,
    PCPU_SKB_PACKET = 7,
    PCPU_TC_INGRESS = 8,
    PCPU_TC_EGRESS = 9,
    PCPU_XDP_REDIRECT = 10,
};

/* ---- maps: each behind W_<TYPE> (the loader defines one per requested map type) ---------------- */

#if W_HASH
BPF_HASH(demo_proc_stats, u32, struct proc_stats, 1024);
/* Syscall latency (usecs) per syscall number: a BCC per-key log2 histogram (key ends with `slot`). */
struct demo_lat_key {
    u64 nr; /* u64, not u32: no padding, whose garbage would split one bucket into several keys */
    u64 slot;
};
BPF_HISTOGRAM(demo_sys_lat_us, struct demo_lat_key, 4096);
BPF_TABLE("lru_hash", u32, u64, demo_sys_start, 4096);
#endif
#if W_ARRAY
BPF_ARRAY(demo_read_log2, u64, 32);
#endif
#if W_PERCPU_HASH
BPF_PERCPU_HASH(demo_pcpu_calls, u32, u64, 512);
#endif
#if W_PERCPU_ARRAY
BPF_PERCPU_ARRAY(demo_pcpu_evts, u64, 11);
#endif
#if W_LRU_HASH
BPF_TABLE("lru_hash", u32, struct last_syscall, demo_lru_pids, 64);
#endif
#if W_LRU_PERCPU_HASH
BPF_TABLE("lru_percpu_hash", struct comm_key, u64, demo_lru_pcomm, 64);
#endif
#if W_LPM_TRIE
BPF_LPM_TRIE(demo_lpm_routes, struct lpm_v4_key, struct route, 64);
#endif
#if W_STACK_TRACE
BPF_STACK_TRACE(demo_stacks, 512);
BPF_TABLE("lru_hash", struct stack_key, u64, demo_stack_cnt, 1024); /* LRU: stays live */
#endif
#if W_QUEUE
BPF_QUEUE(demo_queue_exec, struct exec_record, 64);
#endif
#if W_STACK
BPF_STACK(demo_lifo_close, struct close_record, 64);
#endif
#if W_RINGBUF
BPF_RINGBUF_OUTPUT(demo_ringbuf, 16);
#endif
#if W_PERF_EVENT_ARRAY
BPF_PERF_OUTPUT(demo_perf_evts);
#endif
#if W_RINGBUF || W_PERF_EVENT_ARRAY
BPF_ARRAY(demo_last_event, struct demo_event, 1); /* makes struct demo_event reachable from BTF */
#endif
#if W_PROG_ARRAY
BPF_PROG_ARRAY(demo_tail_calls, 4);
#endif
#if W_ARRAY_OF_MAPS || W_HASH_OF_MAPS
BPF_ARRAY(demo_inner0, u64, 8);
#endif
#if W_ARRAY_OF_MAPS
BPF_ARRAY_OF_MAPS(demo_aom_shards, "demo_inner0", 4);
#endif
#if W_HASH_OF_MAPS
BPF_HASH_OF_MAPS(demo_hom_tenant, u32, "demo_inner0", 8);
#endif
#if W_CGROUP_ARRAY
BPF_CGROUP_ARRAY(demo_cgrp_array, 4);
#endif
#if W_DEVMAP
BPF_DEVMAP(demo_devmap, 8);
#endif
#if W_CPUMAP
BPF_CPUMAP(demo_cpumap, 64);
#endif
#if W_XSKMAP
BPF_XSKMAP(demo_xskmap, 4);
#endif
#if W_CGROUP_STORAGE
BPF_CGROUP_STORAGE(demo_cg_storage, struct cg_traffic);
#endif
#if W_PERCPU_CGROUP_STORAGE
BPF_PERCPU_CGROUP_STORAGE(demo_cg_pcpu, u64);
#endif
#if W_SK_STORAGE
BPF_SK_STORAGE(demo_sk_storage, struct sk_stats);
#endif
#if W_TASK_STORAGE
BPF_TASK_STORAGE(demo_task_store, struct task_stats);
#endif
#if W_INODE_STORAGE
BPF_INODE_STORAGE(demo_inode_tags, struct inode_tag);
#endif

/* sockmap / sockhash with an 8-byte value so that a userspace lookup returns the socket cookie. */
#if W_SOCKMAP
struct demo_sockmap_table_t {
    u32 key;
    u64 leaf;
    int (*update) (u32 *, u64 *);
    int (*delete) (u32 *);
    int (*sock_map_update) (void *, void *, u64);
    u32 max_entries;
};
__attribute__((section("maps/sockmap")))
struct demo_sockmap_table_t demo_sockmap = { .max_entries = 16 };
BPF_ANNOTATE_KV_PAIR(demo_sockmap, u32, u64);
#endif

#if W_SOCKHASH
struct demo_sockhash_table_t {
    struct sock_key key;
    u64 leaf;
    int (*update) (struct sock_key *, u64 *);
    int (*delete) (struct sock_key *);
    int (*sock_hash_update) (void *, void *, u64);
    int (*msg_redirect_hash) (void *, void *, u64);
    int (*sk_redirect_hash) (void *, void *, u64);
    u32 max_entries;
};
__attribute__((section("maps/sockhash")))
struct demo_sockhash_table_t demo_sockhash = { .max_entries = 64 };
BPF_ANNOTATE_KV_PAIR(demo_sockhash, struct sock_key, u64);
#endif

static __always_inline void pcpu_count(u32 idx)
{
#if W_PERCPU_ARRAY
    u64 *v = demo_pcpu_evts.lookup(&idx);
    if (v)
        (*v)++;
#endif
}

/* ---- syscalls: per-process, per-CPU, LRU, task storage, map-of-maps, tail calls ------------------ */

#if W_HASH || W_PERCPU_HASH || W_PERCPU_ARRAY || W_LRU_HASH || W_LRU_PERCPU_HASH || W_TASK_STORAGE || \
    W_ARRAY_OF_MAPS || W_HASH_OF_MAPS || W_CGROUP_ARRAY || W_PROG_ARRAY
TRACEPOINT_PROBE(raw_syscalls, sys_enter)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    u64 now = bpf_ktime_get_ns();
    u32 nr = (u32)args->id;
    u32 cpu = bpf_get_smp_processor_id();
    u64 one = 0;

#if W_HASH
    struct proc_stats zero = {};
    struct proc_stats *ps = demo_proc_stats.lookup(&tgid);
    if (!ps) {
        bpf_get_current_comm(&zero.comm, sizeof(zero.comm));
        zero.tgid = tgid;
        zero.first_seen_ns = now;
        demo_proc_stats.update(&tgid, &zero);
        ps = demo_proc_stats.lookup(&tgid);
    }
    if (ps) {
        __sync_fetch_and_add(&ps->syscalls, 1);
        if (nr == 0)
            __sync_fetch_and_add(&ps->reads, 1);
        else if (nr == 1)
            __sync_fetch_and_add(&ps->writes, 1);
        else if (nr == 257)
            __sync_fetch_and_add(&ps->opens, 1);
        ps->last_seen_ns = now;
        if (tid != tgid)
            ps->threads_seen = 1;
    }
    demo_sys_start.update(&tid, &now);
#endif

#if W_PERCPU_HASH
    u64 *cnt = demo_pcpu_calls.lookup_or_try_init(&nr, &one);
    if (cnt)
        (*cnt)++;
#endif
    pcpu_count(PCPU_SYSCALL);

#if W_LRU_HASH
    struct last_syscall last = {.ts_ns = now, .syscall_nr = nr, .cpu = cpu};
    bpf_get_current_comm(&last.comm, sizeof(last.comm));
    demo_lru_pids.update(&tid, &last);
#endif

#if W_LRU_PERCPU_HASH
    struct comm_key ck = {};
    bpf_get_current_comm(&ck.comm, sizeof(ck.comm));
    u64 *cc = demo_lru_pcomm.lookup_or_try_init(&ck, &one);
    if (cc)
        (*cc)++;
#endif

#if W_TASK_STORAGE
    struct task_stats *ts = demo_task_store.task_storage_get(bpf_get_current_task_btf(), 0,
                                                              BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (ts) {
        if (!ts->first_seen_ns)
            ts->first_seen_ns = now;
        ts->last_seen_ns = now;
        ts->syscalls++;
    }
#endif

    void *inner = 0;
#if W_ARRAY_OF_MAPS
    u32 shard = cpu & 3;
    inner = demo_aom_shards.lookup(&shard);
    if (inner) {
        u32 slot = nr & 7;
        u64 *v = bpf_map_lookup_elem(inner, &slot);
        if (v)
            __sync_fetch_and_add(v, 1);
    }
#endif
#if W_HASH_OF_MAPS
    u32 tenant = tgid & 3;
    inner = demo_hom_tenant.lookup(&tenant);
    if (inner) {
        u32 slot = cpu & 7;
        u64 *v = bpf_map_lookup_elem(inner, &slot);
        if (v)
            __sync_fetch_and_add(v, 1);
    }
#endif

#if W_CGROUP_ARRAY
    if (demo_cgrp_array.check_current_task(0) == 1)
        pcpu_count(PCPU_IN_DEMO_CGROUP);
#endif

#if W_PROG_ARRAY
    demo_tail_calls.call(args, tid & 1);
#endif
    return 0;
}
#endif

#if W_HASH
TRACEPOINT_PROBE(raw_syscalls, sys_exit)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    u64 *start = demo_sys_start.lookup(&tid);
    if (!start)
        return 0;
    u64 delta_us = (bpf_ktime_get_ns() - *start) / 1000;
    demo_sys_start.delete(&tid);
    struct demo_lat_key key = {.nr = (u32)args->id, .slot = bpf_log2l(delta_us)};
    demo_sys_lat_us.increment(key);
    return 0;
}

/* A process that exits leaves the per-process table: it shows live processes only. */
TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    if ((u32)id == tgid)
        demo_proc_stats.delete(&tgid);
    return 0;
}
#endif

#if W_PROG_ARRAY
int demo_tail_even(void *ctx)
{
    pcpu_count(PCPU_TAIL_EVEN);
    return 0;
}

int demo_tail_odd(void *ctx)
{
    pcpu_count(PCPU_TAIL_ODD);
    return 0;
}
#endif

#if W_ARRAY
TRACEPOINT_PROBE(syscalls, sys_exit_read)
{
    long ret = args->ret;
    if (ret <= 0)
        return 0;
    u32 slot = bpf_log2l(ret);
    if (slot > 31)
        slot = 31;
    u64 *v = demo_read_log2.lookup(&slot);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 0;
}
#endif

/* ---- file opens: ringbuf + perf events, stack traces, bloom filter ------------------------------- */

#if W_RINGBUF || W_PERF_EVENT_ARRAY || W_STACK_TRACE || defined(BLOOM_FD)
TRACEPOINT_PROBE(syscalls, sys_enter_openat)
{
    u64 id = bpf_get_current_pid_tgid();
    struct demo_event ev = {};
    ev.ts_ns = bpf_ktime_get_ns();
    ev.pid = id >> 32;
    ev.tid = (u32)id;
    ev.uid = (u32)bpf_get_current_uid_gid();
    ev.kind = DEMO_EV_OPEN;
    ev.kernel_stack_id = -1;
    ev.user_stack_id = -1;
    bpf_get_current_comm(&ev.comm, sizeof(ev.comm));
#if W_STACK_TRACE
    /* REUSE_STACKID: a stack whose bucket holds another replaces it (while the free list lasts: the
     * session deletes old ids before the table fills, since a full table fails every call with ENOMEM) */
    ev.kernel_stack_id = demo_stacks.get_stackid(args, BPF_F_REUSE_STACKID);
    ev.user_stack_id = demo_stacks.get_stackid(args, BPF_F_USER_STACK | BPF_F_REUSE_STACKID);
    struct stack_key sk = {.tgid = ev.pid, .kernel_stack_id = ev.kernel_stack_id,
                           .user_stack_id = ev.user_stack_id};
    __builtin_memcpy(&sk.comm, &ev.comm, sizeof(sk.comm));
    u64 *seen = demo_stack_cnt.lookup(&sk);
    if (seen) {
        __sync_fetch_and_add(seen, 1);
    } else {
        u64 first = 1;
        demo_stack_cnt.update(&sk, &first);
    }
#endif
#ifdef BLOOM_FD
    bpf_map_push_elem((void *)bpf_pseudo_fd(1, BLOOM_FD), &ev.comm, BPF_ANY);
#endif
    pcpu_count(PCPU_OPEN);
#if W_RINGBUF || W_PERF_EVENT_ARRAY
    bpf_probe_read_user_str(&ev.filename, sizeof(ev.filename), args->filename);
    u32 zero = 0;
    demo_last_event.update(&zero, &ev);
#endif
#if W_RINGBUF
    demo_ringbuf.ringbuf_output(&ev, sizeof(ev), 0);
#endif
#if W_PERF_EVENT_ARRAY
    demo_perf_evts.perf_submit(args, &ev, sizeof(ev));
#endif
    return 0;
}
#endif

#if W_QUEUE
TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    struct exec_record rec = {};
    rec.ts_ns = bpf_ktime_get_ns();
    rec.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&rec.comm, sizeof(rec.comm));
    demo_queue_exec.push(&rec, BPF_EXIST);
    pcpu_count(PCPU_EXEC);
    return 0;
}
#endif

#if W_STACK
TRACEPOINT_PROBE(syscalls, sys_enter_close)
{
    struct close_record rec = {};
    rec.ts_ns = bpf_ktime_get_ns();
    rec.pid = bpf_get_current_pid_tgid() >> 32;
    rec.fd = (s32)args->fd;
    demo_lifo_close.push(&rec, BPF_EXIST);
    return 0;
}
#endif

/* ---- XDP on the demo veth: LPM route counters; cpumap, xskmap and devmap redirects --------------
 * DEMO_HOST_IP is the host end's address as it sits in the packet; DEMO_NCPU the possible CPUs.
 * Only packets for the host's own veth address reach the host stack: the demo never forwards. */

#if W_LPM_TRIE || W_CPUMAP || W_DEVMAP || W_XSKMAP
int demo_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_PASS;
    pcpu_count(PCPU_XDP_PACKET);
    if (eth->h_proto != htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return XDP_PASS;
#if W_LPM_TRIE
    struct lpm_v4_key key = {.prefixlen = 32};
    __builtin_memcpy(key.addr, &ip->daddr, 4);
    struct route *r = demo_lpm_routes.lookup(&key);
    if (r) {
        __sync_fetch_and_add(&r->packets, 1);
        __sync_fetch_and_add(&r->bytes, (u64)(data_end - data));
    }
#endif
    if (ip->daddr != DEMO_HOST_IP) {
#if W_DEVMAP
        /* reflect to the veth (devmap slot 1): the namespace drops what is not addressed to it */
        pcpu_count(PCPU_XDP_REDIRECT);
        return demo_devmap.redirect_map(1, XDP_DROP);
#else
        return XDP_DROP;
#endif
    }
    if (ip->protocol != IPPROTO_UDP || ip->ihl != 5)
        return XDP_PASS;
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > data_end)
        return XDP_PASS;
#if W_XSKMAP
    if (udp->dest == htons(DEMO_XSK_PORT)) {
        pcpu_count(PCPU_XDP_REDIRECT);
        return demo_xskmap.redirect_map(ctx->rx_queue_index, XDP_PASS);
    }
#endif
#if W_CPUMAP
    /* steer local UDP to the next CPU: the stack sees it there */
    pcpu_count(PCPU_XDP_REDIRECT);
    return demo_cpumap.redirect_map((bpf_get_smp_processor_id() + 1) % DEMO_NCPU, XDP_PASS);
#endif
    return XDP_PASS;
}
#endif

/* ---- tc (tcx) on the demo veth: per-CPU packet counters; TCX_NEXT lets other programs run ------- */

#if W_PERCPU_ARRAY
int demo_tc_ingress(struct __sk_buff *skb)
{
    pcpu_count(PCPU_TC_INGRESS);
    return -1;
}

int demo_tc_egress(struct __sk_buff *skb)
{
    pcpu_count(PCPU_TC_EGRESS);
    return -1;
}
#endif

/* ---- LSM (where the host allows it): count permission checks on the inodes the demo tagged -------- */

#if W_INODE_STORAGE
int demo_lsm_inode_perm(unsigned long long *ctx)
{
    /* inode_permission(struct inode *inode, int mask): pass the BTF-typed pointer, read no field */
    struct inode_tag *tag = demo_inode_tags.inode_storage_get((void *)ctx[0], 0, 0);
    if (tag)
        __sync_fetch_and_add(&tag->accesses, 1);
    return 0;
}
#endif

/* ---- cgroup: cgroup storage, per-CPU cgroup storage, socket storage, sockmap/sockhash ------------ */

#if W_CGROUP_STORAGE || W_PERCPU_CGROUP_STORAGE || W_SK_STORAGE
static __always_inline void cg_account(struct __sk_buff *skb, int egress)
{
#if W_CGROUP_STORAGE
    struct cg_traffic *t = (void *)demo_cg_storage.get_local_storage(0);
    if (egress) {
        __sync_fetch_and_add(&t->egress_packets, 1);
        __sync_fetch_and_add(&t->egress_bytes, skb->len);
    } else {
        __sync_fetch_and_add(&t->ingress_packets, 1);
        __sync_fetch_and_add(&t->ingress_bytes, skb->len);
    }
#endif
#if W_PERCPU_CGROUP_STORAGE
    u64 *pc = (void *)demo_cg_pcpu.get_local_storage(0);
    *pc += skb->len;
#endif
    pcpu_count(PCPU_SKB_PACKET);

#if W_SK_STORAGE
    struct bpf_sock *sk = skb->sk;
    if (!sk)
        return;
    sk = bpf_sk_fullsock(sk);
    if (!sk)
        return;
    struct sk_stats *ss = demo_sk_storage.sk_storage_get(sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (ss) {
        if (!ss->first_seen_ns) {
            ss->first_seen_ns = bpf_ktime_get_ns();
            ss->family = sk->family;
            ss->protocol = sk->protocol;
        }
        __sync_fetch_and_add(&ss->packets, 1);
        __sync_fetch_and_add(&ss->bytes, skb->len);
    }
#endif
}

int demo_cg_ingress(struct __sk_buff *skb)
{
    cg_account(skb, 0);
    return 1;
}

int demo_cg_egress(struct __sk_buff *skb)
{
    cg_account(skb, 1);
    return 1;
}
#endif

#if W_SOCKMAP || W_SOCKHASH
int demo_sockops(struct bpf_sock_ops *skops)
{
    u32 op = skops->op;
    if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
        return 1;
    if (skops->family != 2 /* AF_INET */)
        return 1;
    struct sock_key key = {.local_port = skops->local_port, .remote_port = bpf_ntohl(skops->remote_port)};
#if W_SOCKHASH
    demo_sockhash.sock_hash_update(skops, &key, BPF_ANY);
#endif
#if W_SOCKMAP
    u32 idx = key.local_port & 15;
    demo_sockmap.sock_map_update(skops, &idx, BPF_ANY);
#endif
    return 1;
}
#endif

#ifdef REUSEPORT_FD
int demo_reuseport(struct sk_reuseport_md *md)
{
    u32 key = md->hash % REUSEPORT_SOCKS;
    bpf_sk_select_reuseport(md, (void *)bpf_pseudo_fd(1, REUSEPORT_FD), &key, 0);
    return SK_PASS;
}
#endif

/* ---- tcp_congestion_ops members, loaded as struct_ops programs by the loader -------------------- */

#if W_STRUCT_OPS
int demo_cc_ssthresh(unsigned long long *ctx)
{
    return 16;
}

int demo_cc_undo_cwnd(unsigned long long *ctx)
{
    return 16;
}

int demo_cc_cong_avoid(unsigned long long *ctx)
{
    return 0;
}
#endif
