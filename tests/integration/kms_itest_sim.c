/* kms_itest_sim.c - re-issues a simulated TDX platform's collateral already expired, for
 * kms_itest.sh (a fault no user asks `keygate sim refresh` for). The platform itself, its PCCS
 * and a fresh refresh are `keygate sim init|pccs|refresh` (tests/support/devnet.sh). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "keygate/sim.h"

int main(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "refresh") != 0 || strcmp(argv[3], "--expired") != 0) {
        fprintf(stderr, "usage: kms-itest-sim refresh DIR --expired\n");
        return 2;
    }
    /* Issued 40 days ago, valid for 30, so nextUpdate passed 10 days ago. */
    if (kg_failed(kg_sim_refresh_collateral(argv[2], (uint64_t)time(NULL) - 40u * 86400u, 30))) {
        fprintf(stderr, "kms-itest-sim: %s\n", kg_error_message());
        return 1;
    }
    return 0;
}
