/* epoch_test.c - root-key epochs (epoch.h): the REPORTDATA that binds a proposed epoch's public
 * keys to its proposer's quote, against values computed independently (Python hashlib), and
 * every input changing it; the status names. */
#include "test_util.h"

#include <string.h>

#include "keygate/epoch.h"

/* ca = bytes 1..91 (a stand-in SPKI), k256 = 0x02 || bytes 100..131, contract = 0xab x 20 */
static void fixture(uint8_t ca[91], uint8_t k256[KG_K256_PUB_LEN], uint8_t contract[20])
{
    for (int i = 0; i < 91; i++)
        ca[i] = (uint8_t)(i + 1);
    k256[0] = 0x02;
    for (int i = 0; i < 32; i++)
        k256[1 + i] = (uint8_t)(100 + i);
    memset(contract, 0xab, 20);
}

static void report_data_matches_the_documented_binding(void **state)
{
    (void)state;
    uint8_t ca[91], k256[KG_K256_PUB_LEN], contract[20], rd[64], other[64];
    fixture(ca, k256, contract);
    /* SHA-512("keygate-root-epoch:" || 31337 u64 BE || contract || 7 u32 BE || SHA-256(ca) || k256)
     */
    KG_ASSERT_OK(kg_epoch_report_data(rd, 31337, contract, 7, ca, sizeof(ca), k256));
    kg_test_assert_hex(
        rd, 64,
        "f25078c2518df99ef39d8b8c78299d506aba6df0bdef60662898f72649abde66c6c3901074f12"
        "755f1af04eb660ccde2fc4e7b76790991f805fb914ae251ae82");
    KG_ASSERT_OK(kg_epoch_report_data(other, 31337, contract, 8, ca, sizeof(ca), k256));
    kg_test_assert_hex(
        other, 64,
        "69e262c122f20580f594f114ad2dd60adfbd48d693a53dc80f3ce00c78b34a10c15323e87da9b"
        "b686074463cab5d4d39c79c6cea3d7c906ea031029780cfa034");
    /* every other input moves it too */
    KG_ASSERT_OK(kg_epoch_report_data(other, 1, contract, 7, ca, sizeof(ca), k256));
    assert_memory_not_equal(rd, other, 64);
    contract[19] ^= 1;
    KG_ASSERT_OK(kg_epoch_report_data(other, 31337, contract, 7, ca, sizeof(ca), k256));
    assert_memory_not_equal(rd, other, 64);
    contract[19] ^= 1;
    ca[0] ^= 1;
    KG_ASSERT_OK(kg_epoch_report_data(other, 31337, contract, 7, ca, sizeof(ca), k256));
    assert_memory_not_equal(rd, other, 64);
    ca[0] ^= 1;
    k256[32] ^= 1;
    KG_ASSERT_OK(kg_epoch_report_data(other, 31337, contract, 7, ca, sizeof(ca), k256));
    assert_memory_not_equal(rd, other, 64);
    KG_ASSERT_ERR(kg_epoch_report_data(other, 31337, contract, 7, ca, 0, k256), KG_ERR_USAGE,
                  "no CA key");
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(kg_epoch_status_name(KG_EPOCH_NONE), "none");
    assert_string_equal(kg_epoch_status_name(KG_EPOCH_PROPOSED), "proposed");
    assert_string_equal(kg_epoch_status_name(KG_EPOCH_CURRENT), "current");
    assert_string_equal(kg_epoch_status_name(KG_EPOCH_RETIRING), "retiring");
    assert_string_equal(kg_epoch_status_name(KG_EPOCH_RETIRED), "retired");
    assert_string_equal(kg_epoch_status_name(5), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_data_matches_the_documented_binding),
        cmocka_unit_test(status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
