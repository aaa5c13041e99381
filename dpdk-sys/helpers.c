/* Values bindgen cannot see: thread-local macros and constants built from macro calls. */
#include <rte_errno.h>
#include <rte_ethdev.h>
int roagent_rte_errno(void) { return rte_errno; }
uint64_t roagent_rss_ip(void) { return RTE_ETH_RSS_IP; }
