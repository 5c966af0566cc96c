// SPDX-License-Identifier: Apache-2.0
// KeygateAppGate - the app's side of KeygateKms.isAppAllowed (the KMS governance notice against the app's, then the app's own answer); an external library so KeygateKms stays under the EIP-170 code size limit.
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {IAppAuth} from "./IAppAuth.sol";
import {KeygateApp} from "./KeygateApp.sol";

/**
 * @title KeygateAppGate
 * @notice The checks of {KeygateKms-isAppAllowed} that ask the app's contract: it has code, its
 *         notice period is not longer than the KMS's guaranteed notice, and its own
 *         {IAppAuth-isAppAllowed} allows the boot. The reasoning is {KeygateKms-isAppAllowed}'s.
 * @dev Linked into {KeygateKms}; an external view function, called by DELEGATECALL in the KMS
 *      proxy's context (it reads no storage of its own).
 */
library KeygateAppGate {
    /// @notice The app's answer for `bootInfo` under a KMS that guarantees `kmsNotice` seconds
    ///         of notice. Reasons: "app has no code", "KMS governance notice (N s) is shorter
    ///         than the app's notice (M s)", the app's own, "app contract call failed" (it
    ///         reverted), "denied by app contract" (a denial without a reason).
    function ask(IAppAuth.AppBootInfo calldata bootInfo, uint64 kmsNotice)
        external
        view
        returns (bool isAllowed, string memory reason)
    {
        address appId = bootInfo.appId;
        if (appId.code.length == 0) return (false, "app has no code");
        (bool hasNotice, uint256 appNotice) = _appNoticePeriod(appId);
        if (hasNotice && appNotice > kmsNotice) {
            return (
                false,
                string.concat(
                    "KMS governance notice (",
                    Strings.toString(kmsNotice),
                    " s) is shorter than the app's notice (",
                    Strings.toString(appNotice),
                    " s)"
                )
            );
        }
        try IAppAuth(appId).isAppAllowed(bootInfo) returns (bool allowed, string memory why) {
            if (!allowed && bytes(why).length == 0) return (false, "denied by app contract");
            return (allowed, why);
        } catch {
            return (false, "app contract call failed");
        }
    }

    /// @dev The app's notice period, if it answers KeygateApp's `upgradeNotice()` with at least
    ///      two words. A low-level staticcall (not try/catch on a typed call) so that an app
    ///      without the getter, or with a fallback returning nothing, counts as "no notice"
    ///      instead of making the caller's view revert.
    function _appNoticePeriod(address appId) private view returns (bool, uint256) {
        (bool ok, bytes memory ret) = appId.staticcall(abi.encodeCall(KeygateApp.upgradeNotice, ()));
        if (!ok || ret.length < 64) return (false, 0);
        return (true, abi.decode(ret, (uint256)));
    }
}
