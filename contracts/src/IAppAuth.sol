// SPDX-License-Identifier: Apache-2.0
// IAppAuth - the authorization call a KMS makes before releasing an app's keys (docs/protocol.md section 3).
pragma solidity ^0.8.24;

import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/**
 * @title IAppAuth
 * @notice The one question a KMS asks the chain: may this attested boot receive keys?
 * @dev ABI-compatible with dstack's IAppAuth. The struct layout is fixed by docs/protocol.md section 3;
 *      the selector of {isAppAllowed} and the ERC-165 interface id of this interface are both
 *      `0x1e079198` = bytes4(keccak256("isAppAllowed((address,bytes32,address,bytes32,bytes32,bytes32,bytes32,string,string[]))")).
 */
interface IAppAuth is IERC165 {
    /**
     * @notice What the KMS learned from a verified quote and event log.
     * @param appId The app's governance contract address (docs/protocol.md section 2).
     * @param composeHash SHA-256 of the raw app-compose.json.
     * @param instanceId Per-instance id, or zero for apps that opt out.
     * @param deviceId SHA-256 of the platform's PPID.
     * @param mrAggregated Aggregated measurement (MRTD, RTMR0-3, ...).
     * @param mrSystem System measurement (MRTD, RTMR0-2, key provider).
     * @param osImageHash SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2) as measured.
     * @param tcbStatus DCAP TCB status string, e.g. "UpToDate".
     * @param advisoryIds Intel security advisory ids reported by DCAP verification.
     */
    struct AppBootInfo {
        address appId;
        bytes32 composeHash;
        address instanceId;
        bytes32 deviceId;
        bytes32 mrAggregated;
        bytes32 mrSystem;
        bytes32 osImageHash;
        string tcbStatus;
        string[] advisoryIds;
    }

    /**
     * @notice Decide whether `bootInfo` may receive keys, as of the queried block.
     * @param bootInfo The attested boot facts.
     * @return isAllowed True when keys may be released.
     * @return reason Empty when allowed; otherwise the specific denial reason.
     */
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason);
}
