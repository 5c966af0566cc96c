/* clock.c - the KMS's wall clock in milliseconds, at the bottom of kms/'s layers (kms/README.md,
 * "The decision path"): every part may use it, and it uses none. */
#include <sys/time.h>

#include "kms.h"

int64_t kms_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
