/* The DPDK API surface roagent uses. Keep this list short: every header here is bound. */
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_per_lcore.h>
#include <rte_memory.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>
#include <rte_prefetch.h>

/* rte_errno is a thread-local macro; bindgen cannot see through it. */
int roagent_rte_errno(void);
/* RTE_ETH_RSS_IP is built from RTE_BIT64() calls. */
uint64_t roagent_rss_ip(void);
