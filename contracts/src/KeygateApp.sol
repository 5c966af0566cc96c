// SPDX-License-Identifier: Apache-2.0
// KeygateApp - one app's governance: which code and devices may receive its keys, and how changes wait (docs/protocol.md section 3).
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {Ownable2StepUpgradeable} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {ERC165Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/introspection/ERC165Upgradeable.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAppAuth} from "./IAppAuth.sol";
import {IAppAuthBasicManagement} from "./IAppAuthBasicManagement.sol";

/**
 * @title KeygateApp
 * @notice The governance contract of one app. Its address is the app id (docs/protocol.md section 2); a KMS
 *         releases the app's keys only to boots that {isAppAllowed} accepts at the queried block.
 * @dev Deployed as a UUPS implementation behind an ERC1967 proxy (usually by {KeygateKms}'s factory).
 *      ABI-compatible with dstack's DstackApp (same functions, events and interface ids).
 *
 *      Beyond dstack, an "upgrade notice" can be configured: a notice period (seconds, by block
 *      timestamp) and a guardian. While the notice period is non-zero:
 *        - a new compose hash is only proposed ({proposeComposeHash}); it becomes allowed at
 *          `proposal time + notice period` (inclusive) unless the guardian vetoes it before then;
 *        - an implementation upgrade must be proposed ({proposeUpgrade}) and can only be executed
 *          from `proposal time + notice period` on, unless vetoed;
 *        - a change of the notice period or guardian itself waits for the current notice period
 *          and can be vetoed, so the owner can never shorten the delay to skip it;
 *        - a guardian that vetoes everything, its own replacement included, can still be
 *          replaced without its consent, but only slowly ({escapeGuardian}: twice the notice
 *          period, the period unchanged), so the owner is never locked out for good and still
 *          never skips the notice.
 *      Revocation ({removeComposeHash}) always takes effect at once. Device and TCB settings are
 *      platform policy, not code, and apply at once.
 *
 *      State is evaluated lazily against `block.timestamp`, so a pending item becomes allowed
 *      exactly at its activation time without any transaction, and `eth_call` at a given block
 *      answers as of that block.
 *
 *      Enumeration (beyond dstack). The allow-lists are mappings, which cannot be listed, and
 *      their events may lie outside the block range a public node lets one read. So the compose
 *      hashes (allowed or pending), the allowed devices and both advisory lists are also kept
 *      in enumerable sets ({composeHashCount}/{composeHashPage}, {allowedDeviceCount}/
 *      {allowedDevicePage}, {deniedAdvisoryCount}/{deniedAdvisoryAt},
 *      {allowedAdvisoryCount}/{allowedAdvisoryAt}); the mappings stay the source of truth of
 *      every decision, and each change updates both. The sets live in ERC-7201 namespaced
 *      storage (`keygate.storage.AppIndex`), so they move no slot of the version-1 layout nor
 *      the gap. A proxy upgraded from a version without them starts with empty sets: entries
 *      made before the upgrade are listed only once someone (anyone) passes them to
 *      {indexExistingEntries}, which adds only what the mappings hold.
 *      Order in a set is not meaningful: a removal moves the last entry into the gap.
 */
contract KeygateApp is
    Initializable,
    Ownable2StepUpgradeable,
    UUPSUpgradeable,
    ERC165Upgradeable,
    IAppAuth,
    IAppAuthBasicManagement
{
    using EnumerableSet for EnumerableSet.Bytes32Set;
    using EnumerableSet for EnumerableSet.StringSet;

    /// @notice Lifecycle of a compose hash in this app's allow-list.
    enum ComposeHashState {
        None, // never added, removed, or vetoed
        Pending, // proposed; becomes Allowed at its activation time unless vetoed or removed
        Allowed // may receive keys
    }

    /// @notice Upper bound of the notice period, so a typo cannot lock governance for ages.
    uint64 public constant MAX_NOTICE_PERIOD = 365 days;

    // PolicyChanged ids: keccak256 of the policy name. The first six match dstack's names.
    bytes32 private constant _POLICY_COMPOSE_HASH = keccak256("compose-hash");
    bytes32 private constant _POLICY_DEVICE = keccak256("device");
    bytes32 private constant _POLICY_ALLOW_ANY_DEVICE = keccak256("allow-any-device");
    bytes32 private constant _POLICY_REQUIRE_TCB = keccak256("require-tcb-up-to-date");
    bytes32 private constant _POLICY_UPGRADES_DISABLED = keccak256("upgrades-disabled");
    bytes32 private constant _POLICY_IMPLEMENTATION = keccak256("implementation-upgrade");
    bytes32 private constant _POLICY_COMPOSE_HASH_PROPOSAL = keccak256("compose-hash-proposal");
    bytes32 private constant _POLICY_UPGRADE_PROPOSAL = keccak256("upgrade-proposal");
    bytes32 private constant _POLICY_UPGRADE_NOTICE = keccak256("upgrade-notice");
    bytes32 private constant _POLICY_ADVISORY_DENY = keccak256("advisory-deny");
    bytes32 private constant _POLICY_ADVISORY_ALLOW = keccak256("advisory-allow");
    bytes32 private constant _POLICY_TCB_GRACE = keccak256("tcb-out-of-date-grace");
    bytes32 private constant _POLICY_GUARDIAN_ESCAPE = keccak256("guardian-escape");

    bytes32 private constant _TCB_UP_TO_DATE = keccak256("UpToDate");
    bytes32 private constant _TCB_OUT_OF_DATE = keccak256("OutOfDate");
    bytes32 private constant _TCB_REVOKED = keccak256("Revoked");

    /// @custom:storage-location erc7201:keygate.storage.AppIndex
    struct AppIndexStorage {
        EnumerableSet.Bytes32Set composeHashes; // every hash with a non-zero activation time
        EnumerableSet.Bytes32Set devices; // every device with `_allowedDevices` true
        EnumerableSet.StringSet deniedAdvisories; // every id whose keccak256 is denied
        EnumerableSet.StringSet allowedAdvisories; // every id whose keccak256 is allowed
    }

    // keccak256(abi.encode(uint256(keccak256("keygate.storage.AppIndex")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _APP_INDEX_STORAGE = 0x53da038e42b9757f115b490b96840ce9178f6995802cac95cbdc519260482900;

    /// @dev Notice period and guardian, packed in one slot.
    struct UpgradeNotice {
        uint64 period;
        address guardian;
    }

    /// @dev Compose hash => first timestamp at which it is allowed; 0 = not allowed nor pending.
    mapping(bytes32 => uint64) private _composeHashActivatesAt;
    mapping(bytes32 => bool) private _allowedDevices;
    bool private _allowAnyDevice;
    bool private _requireTcbUpToDate;
    bool private _upgradesDisabled;
    UpgradeNotice private _notice;
    UpgradeNotice private _pendingNotice;
    uint64 private _pendingNoticeActivatesAt; // 0 = no pending notice change
    address private _pendingImplementation; // address(0) = no pending upgrade
    uint64 private _pendingImplementationActivatesAt;
    // Version 1 ends here (slots 0-6 of this contract). TCB policy, appended (slots 7-9); the gap
    // shrank by the same 3 slots.
    /// @dev keccak256(advisory id) => true when a platform reporting it is refused.
    mapping(bytes32 => bool) private _deniedAdvisories;
    /// @dev keccak256(advisory id) => true when it is known harmless to this app (see {isAppAllowed}).
    mapping(bytes32 => bool) private _allowedAdvisories;
    /// @dev "OutOfDate" platforms are tolerated while block.timestamp < this (0: no grace).
    uint64 private _outOfDateGraceUntil;
    /// @dev True when the pending notice change is a guardian escape ({escapeGuardian}), which
    ///      the guardian cannot veto. Packs into slot 9 beside `_outOfDateGraceUntil` (bytes that
    ///      were always zero), so the gap keeps its size.
    bool private _pendingNoticeIsEscape;

    /// @dev Reserved slots so later versions can append state without shifting it.
    uint256[39] private __gap;

    /// @notice Emitted when upgrades were disabled for good.
    event UpgradesDisabled();
    /// @notice Emitted when the "any device" switch changed.
    event AllowAnyDeviceSet(bool allowAny);
    /// @notice Emitted when the "TCB must be UpToDate" switch changed.
    event RequireTcbUpToDateSet(bool requireUpToDate);
    /// @notice Emitted when `composeHash` was proposed; it is allowed from `activatesAt` on unless vetoed or removed.
    event ComposeHashProposed(bytes32 indexed composeHash, uint64 activatesAt);
    /// @notice Emitted when `guardian` vetoed the pending `composeHash`.
    event ComposeHashVetoed(bytes32 indexed composeHash, address indexed guardian);
    /// @notice Emitted when an upgrade to `implementation` was proposed, executable from `activatesAt` on.
    event UpgradeProposed(address indexed implementation, uint64 activatesAt);
    /// @notice Emitted when `guardian` vetoed the pending upgrade to `implementation`.
    event UpgradeVetoed(address indexed implementation, address indexed guardian);
    /// @notice Emitted when the notice period and guardian changed with immediate effect.
    event UpgradeNoticeChanged(uint64 noticePeriod, address indexed guardian);
    /// @notice Emitted when a notice change was proposed; it takes effect at `activatesAt` unless vetoed.
    event UpgradeNoticeChangeProposed(uint64 noticePeriod, address indexed guardian, uint64 activatesAt);
    /// @notice Emitted when `vetoedBy` vetoed the pending notice change.
    event UpgradeNoticeChangeVetoed(uint64 noticePeriod, address indexed guardian, address indexed vetoedBy);
    /// @notice Emitted when the owner started replacing `guardian` by `newGuardian` without its
    ///         consent; `newGuardian` takes office at `activatesAt` (twice the notice period).
    event GuardianEscapeProposed(address indexed guardian, address indexed newGuardian, uint64 activatesAt);
    /// @notice Emitted when advisory `advisoryId` was put on (true) or taken off (false) the deny-list.
    event AdvisoryDenySet(string advisoryId, bool denied);
    /// @notice Emitted when advisory `advisoryId` was put on (true) or taken off (false) the allow-list.
    event AdvisoryAllowSet(string advisoryId, bool allowed);
    /// @notice Emitted when the "OutOfDate" grace period was set: such platforms are tolerated until `graceUntil` (0: none).
    event OutOfDateGraceSet(uint64 gracePeriod, uint64 graceUntil);
    /**
     * @notice Audit event emitted with every policy change (same shape as dstack's).
     * @param actor The caller that made the change.
     * @param policy keccak256 of the policy name (e.g. "compose-hash").
     * @param value The affected value (hash, id, or address as bytes32).
     * @param enabled True when something was allowed/proposed/enabled, false when removed/vetoed/disabled.
     */
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    /// @notice Upgrades were disabled with {disableUpgrades}.
    error AppUpgradesAreDisabled();
    /// @notice The operation needs the immediate path, but a notice period is in force.
    error AppNoticePeriodActive(uint64 noticePeriod);
    /// @notice The operation is only meaningful while a notice period is in force.
    error AppNoNoticePeriod();
    /// @notice `period` exceeds {MAX_NOTICE_PERIOD}.
    error AppNoticePeriodTooLong(uint64 period);
    /// @notice `composeHash` is already allowed.
    error AppComposeHashAlreadyAllowed(bytes32 composeHash);
    /// @notice `composeHash` is already pending until `activatesAt`.
    error AppComposeHashAlreadyPending(bytes32 composeHash, uint64 activatesAt);
    /// @notice `composeHash` is not pending (never proposed, removed, vetoed, or already active).
    error AppComposeHashNotPending(bytes32 composeHash);
    /// @notice `caller` is not the guardian (or no guardian is set).
    error AppUnauthorizedGuardian(address caller);
    /// @notice `implementation` is not a contract.
    error AppInvalidImplementation(address implementation);
    /// @notice The upgrade to `implementation` was not proposed.
    error AppUpgradeNotProposed(address implementation);
    /// @notice The upgrade to `implementation` is not executable before `activatesAt`.
    error AppUpgradeNotReady(address implementation, uint64 activatesAt);
    /// @notice No upgrade is pending within its notice period.
    error AppNoPendingUpgrade();
    /// @notice No notice change is pending within its notice period.
    error AppNoPendingNoticeChange();
    /// @notice The pending notice change is a guardian escape, which the guardian cannot veto; it takes effect at `activatesAt`.
    error AppGuardianEscapeNotVetoable(uint64 activatesAt);
    /// @notice No guardian is in force, so there is none to escape from (use {setUpgradeNotice}).
    error AppNoGuardian();
    /// @notice `period` exceeds {MAX_NOTICE_PERIOD} (the bound of the "OutOfDate" grace period too).
    error AppGracePeriodTooLong(uint64 period);
    /// @notice An empty advisory id was given.
    error AppInvalidAdvisoryId();

    /// @dev Restricts to the guardian in force; a zero guardian means nobody can veto.
    modifier onlyGuardian() {
        address g = _effectiveNotice().guardian;
        if (g == address(0) || msg.sender != g) revert AppUnauthorizedGuardian(msg.sender);
        _;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    // ------------------------------------------------------------------ initialization

    /**
     * @notice dstack-compatible initializer (no TCB requirement, no notice period).
     * @dev Requirements: `initialOwner` non-zero; proxy not initialized yet.
     *      Emits {DeviceAdded}/{ComposeHashAdded} for non-zero initial values, {UpgradesDisabled} if asked.
     */
    function initialize(
        address initialOwner,
        bool disableUpgrades_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external initializer {
        _initialize(
            initialOwner, disableUpgrades_, false, allowAnyDevice_, initialDeviceId, initialComposeHash, 0, address(0)
        );
    }

    /**
     * @notice dstack-compatible initializer with the TCB requirement.
     * @dev Requirements and events as the five-argument {initialize}, plus {RequireTcbUpToDateSet} when set.
     */
    function initialize(
        address initialOwner,
        bool disableUpgrades_,
        bool requireTcbUpToDate_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external initializer {
        _initialize(
            initialOwner,
            disableUpgrades_,
            requireTcbUpToDate_,
            allowAnyDevice_,
            initialDeviceId,
            initialComposeHash,
            0,
            address(0)
        );
    }

    /**
     * @notice Initializer with an upgrade notice from the start.
     * @dev The initial compose hash is allowed at once: nobody relies on the app before it exists.
     *      Requirements: as {initialize}; `noticePeriod` <= {MAX_NOTICE_PERIOD}.
     *      Emits as {initialize}, plus {UpgradeNoticeChanged} when `noticePeriod` or `guardian_` is non-zero.
     */
    function initializeWithNotice(
        address initialOwner,
        bool disableUpgrades_,
        bool requireTcbUpToDate_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash,
        uint64 noticePeriod,
        address guardian_
    ) external initializer {
        _initialize(
            initialOwner,
            disableUpgrades_,
            requireTcbUpToDate_,
            allowAnyDevice_,
            initialDeviceId,
            initialComposeHash,
            noticePeriod,
            guardian_
        );
    }

    function _initialize(
        address initialOwner,
        bool disableUpgrades_,
        bool requireTcbUpToDate_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash,
        uint64 noticePeriod,
        address guardian_
    ) private {
        __Ownable_init(initialOwner); // reverts OwnableInvalidOwner(0) for a zero owner
        __Ownable2Step_init();
        __UUPSUpgradeable_init();
        __ERC165_init();
        if (noticePeriod > MAX_NOTICE_PERIOD) revert AppNoticePeriodTooLong(noticePeriod);

        if (requireTcbUpToDate_) _setRequireTcbUpToDate(true);
        if (allowAnyDevice_) _setAllowAnyDevice(true);
        if (initialDeviceId != bytes32(0)) _addDevice(initialDeviceId);
        if (initialComposeHash != bytes32(0)) _allowComposeHash(initialComposeHash);
        if (noticePeriod != 0 || guardian_ != address(0)) _setNotice(noticePeriod, guardian_);
        if (disableUpgrades_) _disableUpgrades();
    }

    // ------------------------------------------------------------------ authorization

    /**
     * @inheritdoc IAppAuth
     * @dev Checks, in order: the boot names this app; no advisory of the platform is on the
     *      deny-list; the TCB status when required (see {tcbTolerated}); the compose hash is
     *      allowed (and not merely pending); the device is allowed unless any device is.
     *      Reasons: "app id mismatch", "advisory denied: <id>", "tcb status not up to date",
     *      "compose hash not allowed", "compose hash pending: notice period not over",
     *      "device not allowed".
     */
    function isAppAllowed(AppBootInfo calldata bootInfo)
        external
        view
        override
        returns (bool isAllowed, string memory reason)
    {
        if (bootInfo.appId != address(this)) return (false, "app id mismatch");
        uint256 n = bootInfo.advisoryIds.length;
        for (uint256 i = 0; i < n; ++i) {
            if (_deniedAdvisories[keccak256(bytes(bootInfo.advisoryIds[i]))]) {
                return (false, string.concat("advisory denied: ", bootInfo.advisoryIds[i]));
            }
        }
        if (_requireTcbUpToDate && !tcbTolerated(bootInfo.tcbStatus, bootInfo.advisoryIds)) {
            return (false, "tcb status not up to date");
        }
        ComposeHashState state = composeHashState(bootInfo.composeHash);
        if (state == ComposeHashState.None) return (false, "compose hash not allowed");
        if (state == ComposeHashState.Pending) return (false, "compose hash pending: notice period not over");
        if (!_allowAnyDevice && !_allowedDevices[bootInfo.deviceId]) return (false, "device not allowed");
        return (true, "");
    }

    // ------------------------------------------------------------------ compose hashes

    /**
     * @notice Allow `composeHash` at once.
     * @dev Requirements: caller is the owner; no notice period in force (use {proposeComposeHash}).
     *      Re-adding an allowed hash is a no-op apart from the events.
     *      Emits {ComposeHashAdded} and {PolicyChanged}.
     */
    function addComposeHash(bytes32 composeHash) external override onlyOwner {
        uint64 period = _effectiveNotice().period;
        if (period != 0) revert AppNoticePeriodActive(period);
        _allowComposeHash(composeHash);
    }

    /**
     * @notice Propose `composeHash`; it becomes allowed once the notice period has passed.
     * @dev Requirements: caller is the owner; a notice period is in force; the hash is neither
     *      allowed nor pending (re-proposing would not shorten the wait, so it is refused).
     *      Emits {ComposeHashProposed} and {PolicyChanged}.
     */
    function proposeComposeHash(bytes32 composeHash) external onlyOwner {
        uint64 period = _effectiveNotice().period;
        if (period == 0) revert AppNoNoticePeriod();
        uint64 at = _composeHashActivatesAt[composeHash];
        if (at != 0) {
            if (block.timestamp >= at) revert AppComposeHashAlreadyAllowed(composeHash);
            revert AppComposeHashAlreadyPending(composeHash, at);
        }
        uint64 activatesAt = uint64(block.timestamp) + period;
        _composeHashActivatesAt[composeHash] = activatesAt;
        _index().composeHashes.add(composeHash);
        emit ComposeHashProposed(composeHash, activatesAt);
        _emitPolicy(_POLICY_COMPOSE_HASH_PROPOSAL, composeHash, true);
    }

    /**
     * @notice Veto the pending `composeHash` before it activates.
     * @dev Requirements: caller is the guardian; the hash is pending (block.timestamp < activation).
     *      Emits {ComposeHashVetoed} and {PolicyChanged}.
     */
    function vetoComposeHash(bytes32 composeHash) external onlyGuardian {
        if (composeHashState(composeHash) != ComposeHashState.Pending) revert AppComposeHashNotPending(composeHash);
        delete _composeHashActivatesAt[composeHash];
        _index().composeHashes.remove(composeHash);
        emit ComposeHashVetoed(composeHash, msg.sender);
        _emitPolicy(_POLICY_COMPOSE_HASH_PROPOSAL, composeHash, false);
    }

    /**
     * @notice Revoke `composeHash` (allowed or pending) with immediate effect.
     * @dev Requirements: caller is the owner. Never delayed: revocation must not wait.
     *      Emits {ComposeHashRemoved} and {PolicyChanged}.
     */
    function removeComposeHash(bytes32 composeHash) external override onlyOwner {
        delete _composeHashActivatesAt[composeHash];
        _index().composeHashes.remove(composeHash);
        emit ComposeHashRemoved(composeHash);
        _emitPolicy(_POLICY_COMPOSE_HASH, composeHash, false);
    }

    /// @notice The state of `composeHash` at the current block.
    function composeHashState(bytes32 composeHash) public view returns (ComposeHashState) {
        uint64 at = _composeHashActivatesAt[composeHash];
        if (at == 0) return ComposeHashState.None;
        if (block.timestamp < at) return ComposeHashState.Pending;
        return ComposeHashState.Allowed;
    }

    /// @notice First timestamp at which `composeHash` is allowed; 0 if neither allowed nor pending.
    function composeHashActivatesAt(bytes32 composeHash) external view returns (uint64) {
        return _composeHashActivatesAt[composeHash];
    }

    /// @notice True if `composeHash` is allowed at the current block (dstack's getter).
    function allowedComposeHashes(bytes32 composeHash) external view returns (bool) {
        return composeHashState(composeHash) == ComposeHashState.Allowed;
    }

    // ------------------------------------------------------------------ devices and TCB

    /**
     * @notice Allow `deviceId`.
     * @dev Requirements: caller is the owner. Emits {DeviceAdded} and {PolicyChanged}.
     */
    function addDevice(bytes32 deviceId) external override onlyOwner {
        _addDevice(deviceId);
    }

    /**
     * @notice Disallow `deviceId` at once.
     * @dev Requirements: caller is the owner. Emits {DeviceRemoved} and {PolicyChanged}.
     */
    function removeDevice(bytes32 deviceId) external override onlyOwner {
        _allowedDevices[deviceId] = false;
        _index().devices.remove(deviceId);
        emit DeviceRemoved(deviceId);
        _emitPolicy(_POLICY_DEVICE, deviceId, false);
    }

    /// @notice True if `deviceId` is on the device allow-list (dstack's getter).
    function allowedDeviceIds(bytes32 deviceId) external view returns (bool) {
        return _allowedDevices[deviceId];
    }

    /**
     * @notice Let any device (true) or only allow-listed devices (false) boot the app.
     * @dev Requirements: caller is the owner. Emits {AllowAnyDeviceSet} and {PolicyChanged}.
     */
    function setAllowAnyDevice(bool allowAny) external onlyOwner {
        _setAllowAnyDevice(allowAny);
    }

    /// @notice Whether any device may boot the app.
    function allowAnyDevice() external view returns (bool) {
        return _allowAnyDevice;
    }

    /**
     * @notice Require (true) or not (false) the TCB status "UpToDate".
     * @dev Requirements: caller is the owner. Emits {RequireTcbUpToDateSet} and {PolicyChanged}.
     */
    function setRequireTcbUpToDate(bool requireUpToDate) external onlyOwner {
        _setRequireTcbUpToDate(requireUpToDate);
    }

    /// @notice Whether boots must report TCB status "UpToDate".
    function requireTcbUpToDate() external view returns (bool) {
        return _requireTcbUpToDate;
    }

    // ------------------------------------------------------------------ TCB policy

    /**
     * @notice Whether a platform with `tcbStatus` and `advisoryIds` passes this app's TCB
     *         requirement when {requireTcbUpToDate} is on (the deny-list is checked separately).
     * @dev "UpToDate" always passes; "OutOfDate" passes while the grace period set with
     *      {setOutOfDateGracePeriod} runs; any other status but "Revoked" passes when the platform
     *      names at least one advisory and every advisory it names is on the allow-list.
     */
    function tcbTolerated(string calldata tcbStatus, string[] calldata advisoryIds) public view returns (bool) {
        bytes32 status = keccak256(bytes(tcbStatus));
        if (status == _TCB_UP_TO_DATE) return true;
        if (status == _TCB_REVOKED) return false;
        if (status == _TCB_OUT_OF_DATE && block.timestamp < _outOfDateGraceUntil) return true;
        uint256 n = advisoryIds.length;
        if (n == 0) return false;
        for (uint256 i = 0; i < n; ++i) {
            if (!_allowedAdvisories[keccak256(bytes(advisoryIds[i]))]) return false;
        }
        return true;
    }

    /**
     * @notice Refuse (true) or stop refusing (false) platforms that report advisory `advisoryId`
     *         (e.g. "INTEL-SA-00837"), whatever their TCB status.
     * @dev Requirements: caller is the owner; `advisoryId` non-empty. Applies at once (platform
     *      policy, like devices). Emits {AdvisoryDenySet} and {PolicyChanged}.
     */
    function setAdvisoryDenied(string calldata advisoryId, bool denied) external onlyOwner {
        if (bytes(advisoryId).length == 0) revert AppInvalidAdvisoryId();
        bytes32 id = keccak256(bytes(advisoryId));
        _deniedAdvisories[id] = denied;
        _setMember(_index().deniedAdvisories, advisoryId, denied);
        emit AdvisoryDenySet(advisoryId, denied);
        _emitPolicy(_POLICY_ADVISORY_DENY, id, denied);
    }

    /**
     * @notice Mark advisory `advisoryId` as harmless to this app (true) or not (false): with
     *         {requireTcbUpToDate}, a platform whose every advisory is allow-listed is accepted.
     * @dev Requirements: caller is the owner; `advisoryId` non-empty. Applies at once.
     *      Emits {AdvisoryAllowSet} and {PolicyChanged}.
     */
    function setAdvisoryAllowed(string calldata advisoryId, bool allowed) external onlyOwner {
        if (bytes(advisoryId).length == 0) revert AppInvalidAdvisoryId();
        bytes32 id = keccak256(bytes(advisoryId));
        _allowedAdvisories[id] = allowed;
        _setMember(_index().allowedAdvisories, advisoryId, allowed);
        emit AdvisoryAllowSet(advisoryId, allowed);
        _emitPolicy(_POLICY_ADVISORY_ALLOW, id, allowed);
    }

    /// @notice Whether platforms reporting `advisoryId` are refused.
    function advisoryDenied(string calldata advisoryId) external view returns (bool) {
        return _deniedAdvisories[keccak256(bytes(advisoryId))];
    }

    /// @notice Whether `advisoryId` is on the allow-list.
    function advisoryAllowed(string calldata advisoryId) external view returns (bool) {
        return _allowedAdvisories[keccak256(bytes(advisoryId))];
    }

    /**
     * @notice Keep "OutOfDate" platforms allowed for `gracePeriod` seconds from now (0 ends a
     *         running grace period at once), so a TCB recovery does not cut an app off before
     *         its hosts have updated.
     * @dev Requirements: caller is the owner; `gracePeriod` <= {MAX_NOTICE_PERIOD}. Only matters
     *      with {requireTcbUpToDate}. Emits {OutOfDateGraceSet} and {PolicyChanged}.
     */
    function setOutOfDateGracePeriod(uint64 gracePeriod) external onlyOwner {
        if (gracePeriod > MAX_NOTICE_PERIOD) revert AppGracePeriodTooLong(gracePeriod);
        uint64 until = gracePeriod == 0 ? 0 : uint64(block.timestamp) + gracePeriod;
        _outOfDateGraceUntil = until;
        emit OutOfDateGraceSet(gracePeriod, until);
        _emitPolicy(_POLICY_TCB_GRACE, bytes32(uint256(until)), gracePeriod != 0);
    }

    /// @notice Until when (exclusive) "OutOfDate" platforms are tolerated; 0 or past: no grace.
    function outOfDateGraceUntil() external view returns (uint64) {
        return _outOfDateGraceUntil;
    }

    // ------------------------------------------------------------------ enumeration

    /// @notice How many compose hashes are allowed or pending (see {composeHashPage}).
    function composeHashCount() external view returns (uint256) {
        return _index().composeHashes.length();
    }

    /**
     * @notice Up to `limit` of the compose hashes that are allowed or pending, from position
     *         `offset` on (fewer at the end, none past it), with each one's activation time:
     *         allowed when `block.timestamp >= activatesAt`, pending before.
     * @dev Order is arbitrary and changes when a hash is removed; read a consistent list at
     *      one block. On a proxy upgraded from a version without enumeration, entries made
     *      before the upgrade appear only once indexed ({indexExistingEntries}).
     */
    function composeHashPage(uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory composeHashes, uint64[] memory activatesAt)
    {
        composeHashes = _index().composeHashes.values(offset, _pageEnd(offset, limit));
        uint256 n = composeHashes.length;
        activatesAt = new uint64[](n);
        for (uint256 i = 0; i < n; ++i) {
            activatesAt[i] = _composeHashActivatesAt[composeHashes[i]];
        }
    }

    /// @notice How many devices are on the device allow-list (see {allowedDevicePage}).
    function allowedDeviceCount() external view returns (uint256) {
        return _index().devices.length();
    }

    /// @notice Up to `limit` allowed devices from position `offset` on (as {composeHashPage}).
    function allowedDevicePage(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _index().devices.values(offset, _pageEnd(offset, limit));
    }

    /// @notice How many advisory ids are on the deny-list.
    function deniedAdvisoryCount() external view returns (uint256) {
        return _index().deniedAdvisories.length();
    }

    /// @notice The denied advisory id at position `index` (< {deniedAdvisoryCount}; reverts past it).
    function deniedAdvisoryAt(uint256 index) external view returns (string memory) {
        return _index().deniedAdvisories.at(index);
    }

    /// @notice How many advisory ids are on the allow-list.
    function allowedAdvisoryCount() external view returns (uint256) {
        return _index().allowedAdvisories.length();
    }

    /// @notice The allowed advisory id at position `index` (< {allowedAdvisoryCount}; reverts past it).
    function allowedAdvisoryAt(uint256 index) external view returns (string memory) {
        return _index().allowedAdvisories.at(index);
    }

    /**
     * @notice Add entries made before this version to the enumeration: each compose hash,
     *         device and advisory id given is indexed if the allow-list holds it (a value it
     *         does not hold, or one already indexed, is skipped). For a proxy upgraded from a
     *         version without enumeration; the candidates come from the contract's events.
     * @dev Anyone may call it: it only makes the index reflect the mappings, which decide.
     */
    function indexExistingEntries(
        bytes32[] calldata composeHashes,
        bytes32[] calldata deviceIds,
        string[] calldata deniedAdvisoryIds,
        string[] calldata allowedAdvisoryIds
    ) external {
        AppIndexStorage storage $ = _index();
        for (uint256 i = 0; i < composeHashes.length; ++i) {
            if (_composeHashActivatesAt[composeHashes[i]] != 0) $.composeHashes.add(composeHashes[i]);
        }
        for (uint256 i = 0; i < deviceIds.length; ++i) {
            if (_allowedDevices[deviceIds[i]]) $.devices.add(deviceIds[i]);
        }
        for (uint256 i = 0; i < deniedAdvisoryIds.length; ++i) {
            if (_deniedAdvisories[keccak256(bytes(deniedAdvisoryIds[i]))]) {
                $.deniedAdvisories.add(deniedAdvisoryIds[i]);
            }
        }
        for (uint256 i = 0; i < allowedAdvisoryIds.length; ++i) {
            if (_allowedAdvisories[keccak256(bytes(allowedAdvisoryIds[i]))]) {
                $.allowedAdvisories.add(allowedAdvisoryIds[i]);
            }
        }
    }

    // ------------------------------------------------------------------ upgrade notice

    /**
     * @notice Set the notice period (seconds) and guardian.
     * @dev With no notice period in force the change applies at once. Otherwise it becomes a
     *      pending change effective after the current notice period, vetoable by the current
     *      guardian; a newer proposal replaces (and restarts) a pending one, a pending
     *      {escapeGuardian} included. A guardian that vetoes every such change can be replaced
     *      with {escapeGuardian}.
     *      Requirements: caller is the owner; `noticePeriod` <= {MAX_NOTICE_PERIOD}.
     *      Emits {UpgradeNoticeChanged} or {UpgradeNoticeChangeProposed}, and {PolicyChanged}.
     */
    function setUpgradeNotice(uint64 noticePeriod, address guardian_) external onlyOwner {
        if (noticePeriod > MAX_NOTICE_PERIOD) revert AppNoticePeriodTooLong(noticePeriod);
        _settleNotice();
        uint64 current = _notice.period;
        if (current == 0) {
            _setNotice(noticePeriod, guardian_);
            return;
        }
        uint64 activatesAt = uint64(block.timestamp) + current;
        _pendingNotice = UpgradeNotice(noticePeriod, guardian_);
        _pendingNoticeActivatesAt = activatesAt;
        _pendingNoticeIsEscape = false;
        emit UpgradeNoticeChangeProposed(noticePeriod, guardian_, activatesAt);
        _emitPolicy(_POLICY_UPGRADE_NOTICE, bytes32(uint256(noticePeriod)), true);
    }

    /**
     * @notice Veto the pending notice change before it takes effect.
     * @dev Requirements: caller is the guardian; a notice change is pending and not yet
     *      effective, and it is not a guardian escape ({escapeGuardian}).
     *      Emits {UpgradeNoticeChangeVetoed} and {PolicyChanged}.
     */
    function vetoUpgradeNoticeChange() external onlyGuardian {
        _settleNotice();
        if (_pendingNoticeActivatesAt == 0) revert AppNoPendingNoticeChange();
        if (_pendingNoticeIsEscape) revert AppGuardianEscapeNotVetoable(_pendingNoticeActivatesAt);
        UpgradeNotice memory vetoed = _pendingNotice;
        delete _pendingNotice;
        delete _pendingNoticeActivatesAt;
        emit UpgradeNoticeChangeVetoed(vetoed.period, vetoed.guardian, msg.sender);
        _emitPolicy(_POLICY_UPGRADE_NOTICE, bytes32(uint256(vetoed.period)), false);
    }

    /**
     * @notice Replace the guardian without its consent: `newGuardian` takes office at
     *         `now + 2 * notice period`, the notice period unchanged, and the guardian in force
     *         cannot veto it. The way out of a hostile or lost guardian that vetoes every compose
     *         hash, every upgrade and every {setUpgradeNotice}, its own replacement included.
     * @dev Why this cannot be used to skip the notice (the guardian protects users from a
     *      malicious owner, so the escape must not weaken what the notice guarantees):
     *        - the notice period stays as it is, and every compose hash or upgrade still waits
     *          out that period from its own proposal, whoever the guardian is;
     *        - the guardian in force keeps its veto over every proposal until the new one takes
     *          office, which is twice the period away, so a proposal made together with the
     *          escape is still vetoable for its whole notice;
     *        - it is public from its first block ({GuardianEscapeProposed}).
     *      A compromised owner therefore gets code the current guardian would veto to the keys
     *      no sooner than 3 periods after announcing the escape (2 to replace the guardian, 1 for
     *      the code's own notice), and every step is visible; without the escape, a hostile
     *      guardian could freeze the app for ever. Twice, not once, the period keeps the
     *      guardian's veto of an ordinary {setUpgradeNotice} meaningful: it costs the owner one
     *      more period and a public escape.
     *      Replaces (and restarts) a pending notice change; a later {setUpgradeNotice} replaces
     *      a pending escape in turn (the owner's own choice).
     *      Requirements: caller is the owner; a notice period and a guardian are in force.
     *      Emits {GuardianEscapeProposed} and {PolicyChanged}.
     */
    function escapeGuardian(address newGuardian) external onlyOwner {
        _settleNotice();
        UpgradeNotice memory current = _notice;
        if (current.period == 0) revert AppNoNoticePeriod();
        if (current.guardian == address(0)) revert AppNoGuardian();
        uint64 activatesAt = uint64(block.timestamp) + 2 * current.period;
        _pendingNotice = UpgradeNotice(current.period, newGuardian);
        _pendingNoticeActivatesAt = activatesAt;
        _pendingNoticeIsEscape = true;
        emit GuardianEscapeProposed(current.guardian, newGuardian, activatesAt);
        _emitPolicy(_POLICY_GUARDIAN_ESCAPE, _addressToBytes32(newGuardian), true);
    }

    /// @notice The guardian escape waiting for its activation time; zero if none.
    function pendingGuardianEscape() external view returns (address newGuardian, uint64 activatesAt) {
        uint64 at = _pendingNoticeActivatesAt;
        if (!_pendingNoticeIsEscape || at == 0 || block.timestamp >= at) return (address(0), 0);
        return (_pendingNotice.guardian, at);
    }

    /// @notice The notice period (seconds) and guardian in force at the current block.
    function upgradeNotice() external view returns (uint64 noticePeriod, address guardian_) {
        UpgradeNotice memory n = _effectiveNotice();
        return (n.period, n.guardian);
    }

    /// @notice The notice change waiting for its activation time; all zero if none. A pending
    ///         guardian escape shows here too (with the unchanged period); {pendingGuardianEscape} tells them apart.
    function pendingUpgradeNotice() external view returns (uint64 noticePeriod, address guardian_, uint64 activatesAt) {
        if (_pendingNoticeActivatesAt == 0 || block.timestamp >= _pendingNoticeActivatesAt) return (0, address(0), 0);
        return (_pendingNotice.period, _pendingNotice.guardian, _pendingNoticeActivatesAt);
    }

    // ------------------------------------------------------------------ implementation upgrades

    /**
     * @notice Propose an upgrade to `implementation`, executable once the notice period has passed.
     * @dev Requirements: caller is the owner; upgrades not disabled; a notice period is in force;
     *      `implementation` has code. A newer proposal replaces (and restarts) a pending one.
     *      Emits {UpgradeProposed} and {PolicyChanged}.
     */
    function proposeUpgrade(address implementation) external onlyOwner {
        if (_upgradesDisabled) revert AppUpgradesAreDisabled();
        uint64 period = _effectiveNotice().period;
        if (period == 0) revert AppNoNoticePeriod();
        if (implementation.code.length == 0) revert AppInvalidImplementation(implementation);
        uint64 activatesAt = uint64(block.timestamp) + period;
        _pendingImplementation = implementation;
        _pendingImplementationActivatesAt = activatesAt;
        emit UpgradeProposed(implementation, activatesAt);
        _emitPolicy(_POLICY_UPGRADE_PROPOSAL, _addressToBytes32(implementation), true);
    }

    /**
     * @notice Veto the pending upgrade before it becomes executable.
     * @dev Requirements: caller is the guardian; an upgrade is pending and block.timestamp < its activation.
     *      Emits {UpgradeVetoed} and {PolicyChanged}.
     */
    function vetoUpgrade() external onlyGuardian {
        address implementation = _pendingImplementation;
        if (implementation == address(0) || block.timestamp >= _pendingImplementationActivatesAt) {
            revert AppNoPendingUpgrade();
        }
        delete _pendingImplementation;
        delete _pendingImplementationActivatesAt;
        emit UpgradeVetoed(implementation, msg.sender);
        _emitPolicy(_POLICY_UPGRADE_PROPOSAL, _addressToBytes32(implementation), false);
    }

    /// @notice The proposed implementation and the time from which it can be executed; zero if none.
    function pendingUpgrade() external view returns (address implementation, uint64 activatesAt) {
        return (_pendingImplementation, _pendingImplementationActivatesAt);
    }

    /**
     * @notice Disable implementation upgrades for good.
     * @dev Requirements: caller is the owner; not already disabled. Drops any pending upgrade.
     *      Emits {UpgradesDisabled} and {PolicyChanged}.
     */
    function disableUpgrades() external onlyOwner {
        if (_upgradesDisabled) revert AppUpgradesAreDisabled();
        _disableUpgrades();
    }

    /// @notice Whether upgrades are disabled for good.
    function upgradesDisabled() external view returns (bool) {
        return _upgradesDisabled;
    }

    /// @notice Implementation version of this contract.
    function version() external pure virtual returns (uint256) {
        return 1;
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId)
        public
        view
        virtual
        override(ERC165Upgradeable, IERC165)
        returns (bool)
    {
        return interfaceId == type(IAppAuth).interfaceId || interfaceId == type(IAppAuthBasicManagement).interfaceId
            || super.supportsInterface(interfaceId);
    }

    /**
     * @dev UUPS hook. Requirements: caller is the owner; upgrades not disabled; with a notice
     *      period in force, `newImplementation` is the proposed one and its activation time has come.
     *      Emits {PolicyChanged} (the proxy emits {IERC1967-Upgraded}).
     */
    function _authorizeUpgrade(address newImplementation) internal override onlyOwner {
        if (_upgradesDisabled) revert AppUpgradesAreDisabled();
        if (_effectiveNotice().period != 0) {
            if (_pendingImplementation == address(0) || newImplementation != _pendingImplementation) {
                revert AppUpgradeNotProposed(newImplementation);
            }
            if (block.timestamp < _pendingImplementationActivatesAt) {
                revert AppUpgradeNotReady(newImplementation, _pendingImplementationActivatesAt);
            }
        }
        delete _pendingImplementation;
        delete _pendingImplementationActivatesAt;
        _emitPolicy(_POLICY_IMPLEMENTATION, _addressToBytes32(newImplementation), true);
    }

    // ------------------------------------------------------------------ internals

    function _allowComposeHash(bytes32 composeHash) private {
        // max(now, 1): a stored 0 means "absent", and a chain at timestamp 0 must still work.
        _composeHashActivatesAt[composeHash] = block.timestamp == 0 ? 1 : uint64(block.timestamp);
        _index().composeHashes.add(composeHash);
        emit ComposeHashAdded(composeHash);
        _emitPolicy(_POLICY_COMPOSE_HASH, composeHash, true);
    }

    function _addDevice(bytes32 deviceId) private {
        _allowedDevices[deviceId] = true;
        _index().devices.add(deviceId);
        emit DeviceAdded(deviceId);
        _emitPolicy(_POLICY_DEVICE, deviceId, true);
    }

    function _setAllowAnyDevice(bool allowAny) private {
        _allowAnyDevice = allowAny;
        emit AllowAnyDeviceSet(allowAny);
        _emitPolicy(_POLICY_ALLOW_ANY_DEVICE, bytes32(0), allowAny);
    }

    function _setRequireTcbUpToDate(bool requireUpToDate) private {
        _requireTcbUpToDate = requireUpToDate;
        emit RequireTcbUpToDateSet(requireUpToDate);
        _emitPolicy(_POLICY_REQUIRE_TCB, bytes32(0), requireUpToDate);
    }

    function _disableUpgrades() private {
        _upgradesDisabled = true;
        delete _pendingImplementation;
        delete _pendingImplementationActivatesAt;
        emit UpgradesDisabled();
        _emitPolicy(_POLICY_UPGRADES_DISABLED, bytes32(0), true);
    }

    function _setNotice(uint64 noticePeriod, address guardian_) private {
        _notice = UpgradeNotice(noticePeriod, guardian_);
        emit UpgradeNoticeChanged(noticePeriod, guardian_);
        _emitPolicy(_POLICY_UPGRADE_NOTICE, bytes32(uint256(noticePeriod)), true);
    }

    /// @dev The notice in force now: the pending change once its activation time has come.
    function _effectiveNotice() private view returns (UpgradeNotice memory) {
        uint64 at = _pendingNoticeActivatesAt;
        if (at != 0 && block.timestamp >= at) return _pendingNotice;
        return _notice;
    }

    /// @dev Folds a matured pending notice change into the current one (no event: it was announced).
    function _settleNotice() private {
        uint64 at = _pendingNoticeActivatesAt;
        if (at != 0 && block.timestamp >= at) {
            _notice = _pendingNotice;
            delete _pendingNotice;
            delete _pendingNoticeActivatesAt;
            delete _pendingNoticeIsEscape;
        }
    }

    function _index() private pure returns (AppIndexStorage storage $) {
        assembly {
            $.slot := _APP_INDEX_STORAGE
        }
    }

    function _setMember(EnumerableSet.StringSet storage set, string calldata value, bool member) private {
        if (member) set.add(value);
        else set.remove(value);
    }

    /// @dev `offset + limit`, saturating: the set's `values(start, end)` clamps it to the length.
    function _pageEnd(uint256 offset, uint256 limit) private pure returns (uint256) {
        unchecked {
            uint256 end = offset + limit;
            return end < offset ? type(uint256).max : end;
        }
    }

    function _emitPolicy(bytes32 policy, bytes32 value, bool enabled) private {
        emit PolicyChanged(msg.sender, policy, value, enabled);
    }

    function _addressToBytes32(address a) private pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }
}
