// SPDX-License-Identifier: Apache-2.0
// KeygateKms - a deployment's registry: KMS info, KMS/OS allow-lists, app registry and app factory (docs/protocol.md section 3).
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {Ownable2StepUpgradeable} from "@openzeppelin/contracts-upgradeable/access/Ownable2StepUpgradeable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {ERC165Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/introspection/ERC165Upgradeable.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAppAuth} from "./IAppAuth.sol";
import {KeygateApp} from "./KeygateApp.sol";
import {KeygateLogAnchor} from "./KeygateLogAnchor.sol";
import {KeygateAppGate} from "./KeygateAppGate.sol";
import {KeygateAppDeployer} from "./KeygateAppDeployer.sol";
import {KeygateRecoveryHolders} from "./KeygateRecoveryHolders.sol";
import {KeygateRootEpochs} from "./KeygateRootEpochs.sol";

/**
 * @title KeygateKms
 * @notice One per deployment. Publishes the KMS root public keys and bootstrap attestation,
 *         decides which KMS nodes may hold the root keys ({isKmsAllowed}) and which app boots
 *         may receive app keys ({isAppAllowed}, which delegates to the app's own contract).
 * @dev UUPS implementation behind an ERC1967 proxy; ABI-compatible with dstack's DstackKms.
 *      Upgrades and policy are the owner's; make the owner a multisig or timelock in production.
 *
 *      Governance notice (beyond dstack). The owner of this contract decides which OS images,
 *      KMS code (aggregated MRs) and KMS devices are trusted, and which code answers
 *      {isAppAllowed}: without a delay it could make any compose hash of any app effectively
 *      allowed in one block (allow a KMS build or upgrade to an implementation that ignores the
 *      app), defeating the apps' own notice periods. So, like {KeygateApp}, this contract has a
 *      notice period (seconds, by block timestamp) and a guardian. While the notice period is
 *      non-zero:
 *        - an OS image, KMS aggregated MR or KMS device is only proposed ({proposeOsImageHash},
 *          {proposeKmsAggregatedMr}, {proposeKmsDevice}); it becomes allowed at
 *          `proposal time + notice period` (inclusive) unless the guardian vetoes it before then,
 *          and the one-call `add*` functions revert with {KmsNoticePeriodActive};
 *        - an implementation upgrade must be proposed ({proposeUpgrade}) and can only be
 *          executed from `proposal time + notice period` on, unless vetoed;
 *        - a shorter notice period or another guardian waits for the current notice period and
 *          can be vetoed; a longer one with the same guardian applies at once;
 *        - a guardian that vetoes everything, its own replacement included, can still be
 *          replaced without its consent, but only slowly ({escapeGuardian}: twice the notice
 *          period, the period unchanged).
 *      Removals (`remove*`) always take effect at once: revocation must never wait. With a zero
 *      notice period (the default) everything behaves as in dstack.
 *
 *      KMS governance cannot outrun an app: {isAppAllowed} denies an app that declares a notice
 *      period (KeygateApp's `upgradeNotice()`) longer than the notice this contract guarantees
 *      ({guaranteedNotice}). This check is enforced by the current implementation only, and a
 *      malicious implementation could drop it; what makes it sound is that replacing the
 *      implementation is itself time-locked by the current one: with a guaranteed notice of at
 *      least the app's, an upgrade (like any OS image / MR / device addition) is public for at
 *      least the app's notice period and the guardian can veto it, and lowering the notice is
 *      itself announced with the current notice. While the guarantee is shorter, the app is
 *      denied (fails closed) rather than served under weaker governance than it asked for.
 *
 *      Decision log anchor (beyond dstack; {KeygateLogAnchor}): KMS nodes' log keys and
 *      checkpoints, signed by the root secp256k1 key of {kmsInfo}; its state is namespaced.
 *
 *      Enumeration (beyond dstack). The registry and the allow-lists are mappings, which cannot
 *      be listed, and their events may lie outside the block range a public node lets one
 *      read. So the registered apps ({registeredAppCount}/{registeredAppPage}) and the OS
 *      images, KMS aggregated MRs and KMS devices that are allowed or pending
 *      ({osImageCount}/{osImagePage}, ...) are also kept in enumerable sets; the mappings stay
 *      the source of truth of every decision, and each change updates both. The sets live in
 *      ERC-7201 namespaced storage (`keygate.storage.KmsIndex`), so they move no slot of the
 *      layout nor the gap. A proxy upgraded from a version without them starts with empty
 *      sets: entries made before the upgrade are listed only once someone (anyone) passes them
 *      to {indexExistingEntries}, which adds only what the mappings hold.
 */
contract KeygateKms is
    Initializable,
    Ownable2StepUpgradeable,
    UUPSUpgradeable,
    ERC165Upgradeable,
    IAppAuth,
    KeygateLogAnchor
{
    /**
     * @notice The KMS's public identity.
     * @param k256Pubkey Root secp256k1 public key (33-byte compressed).
     * @param caPubkey Root CA public key (P-256, DER SubjectPublicKeyInfo).
     * @param quote The bootstrap TDX quote of the KMS that generated the root keys.
     * @param eventlog The event log (JSON) of that quote.
     */
    struct KmsInfo {
        bytes k256Pubkey;
        bytes caPubkey;
        bytes quote;
        bytes eventlog;
    }

    // PolicyChanged ids: keccak256 of the policy name; names match dstack's where dstack has them.
    bytes32 private constant _POLICY_KMS_INFO = keccak256("kms-info");
    bytes32 private constant _POLICY_KMS_QUOTE = keccak256("kms-quote");
    bytes32 private constant _POLICY_KMS_EVENTLOG = keccak256("kms-eventlog");
    bytes32 private constant _POLICY_GATEWAY_APP_ID = keccak256("gateway-app-id");
    bytes32 private constant _POLICY_REGISTERED_APP = keccak256("registered-app");
    bytes32 private constant _POLICY_APP_IMPLEMENTATION = keccak256("app-implementation");
    bytes32 private constant _POLICY_KMS_MR = keccak256("kms-aggregated-mr");
    bytes32 private constant _POLICY_KMS_DEVICE = keccak256("kms-device");
    bytes32 private constant _POLICY_OS_IMAGE = keccak256("os-image");
    bytes32 private constant _POLICY_IMPLEMENTATION = keccak256("implementation-upgrade");
    bytes32 private constant _POLICY_KMS_MR_PROPOSAL = keccak256("kms-aggregated-mr-proposal");
    bytes32 private constant _POLICY_KMS_DEVICE_PROPOSAL = keccak256("kms-device-proposal");
    bytes32 private constant _POLICY_OS_IMAGE_PROPOSAL = keccak256("os-image-proposal");
    bytes32 private constant _POLICY_UPGRADE_PROPOSAL = keccak256("upgrade-proposal");
    bytes32 private constant _POLICY_GOVERNANCE_NOTICE = keccak256("governance-notice");
    bytes32 private constant _POLICY_GUARDIAN_ESCAPE = keccak256("guardian-escape");

    bytes32 private constant _TCB_UP_TO_DATE = keccak256("UpToDate");

    using EnumerableSet for EnumerableSet.AddressSet;
    using EnumerableSet for EnumerableSet.Bytes32Set;

    /// @custom:storage-location erc7201:keygate.storage.KmsIndex
    struct KmsIndexStorage {
        EnumerableSet.AddressSet apps; // every registered app
        EnumerableSet.Bytes32Set osImages; // every image added at once or proposed (pending or allowed)
        EnumerableSet.Bytes32Set kmsAggregatedMrs; // likewise
        EnumerableSet.Bytes32Set kmsDevices; // likewise
    }

    // keccak256(abi.encode(uint256(keccak256("keygate.storage.KmsIndex")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _KMS_INDEX_STORAGE = 0xaabbec8b6b00d3d22fc7d7f16fd6c20c820782a5ef3ee6d9bbb420900caeca00;

    /// @notice Upper bound of the notice period (the same as {KeygateApp-MAX_NOTICE_PERIOD}).
    uint64 public constant MAX_NOTICE_PERIOD = 365 days;

    /// @dev Notice period and guardian, packed in one slot.
    struct GovernanceNotice {
        uint64 period;
        address guardian;
    }

    KmsInfo private _kmsInfo;
    string private _gatewayAppId;
    mapping(address => bool) private _registeredApps;
    mapping(bytes32 => bool) private _kmsAllowedAggregatedMrs;
    mapping(bytes32 => bool) private _kmsAllowedDeviceIds;
    mapping(bytes32 => bool) private _allowedOsImages;
    address private _appImplementation;
    // Version 1 ends here (slots 0-9). Governance notice state, appended (slots 10-16); the gap
    // shrank by the same 7 slots, so the contract still spans 53 slots.
    GovernanceNotice private _notice;
    GovernanceNotice private _pendingNotice;
    uint64 private _pendingNoticeActivatesAt; // 0 = no pending notice change
    address private _pendingImplementation; // address(0) = no pending upgrade
    uint64 private _pendingImplementationActivatesAt;
    /// @dev Shortest notice given to a proposal that may still be pending, and the latest
    ///      activation time among those proposals (see {guaranteedNotice}).
    uint64 private _shortestPendingLead;
    uint64 private _shortestPendingLeadUntil;
    /// @dev Value => first timestamp at which a proposed value is allowed; 0 = not proposed.
    ///      Values allowed with the one-call `add*` functions live in the version-1 mappings.
    mapping(bytes32 => uint64) private _osImageActivatesAt;
    mapping(bytes32 => uint64) private _kmsAggregatedMrActivatesAt;
    mapping(bytes32 => uint64) private _kmsDeviceActivatesAt;
    // Guardian escape, appended (slot 17); the gap shrank by one slot.
    /// @dev True when the pending notice change is a guardian escape ({escapeGuardian}), which
    ///      the guardian cannot veto.
    bool private _pendingNoticeIsEscape;

    /// @dev Reserved slots so later versions can append state without shifting it.
    uint256[35] private __gap;

    /// @notice Emitted when `appId` was registered (unindexed, as in dstack, for log-indexer compatibility).
    event AppRegistered(address appId);
    /// @notice Emitted when the KMS info was replaced; carries the new root secp256k1 public key.
    event KmsInfoSet(bytes k256Pubkey);
    /// @notice Emitted when the bootstrap quote was replaced.
    event KmsQuoteSet(bytes32 quoteHash);
    /// @notice Emitted when the bootstrap event log was replaced.
    event KmsEventlogSet(bytes32 eventlogHash);
    /// @notice Emitted when a KMS aggregated MR was allowed.
    event KmsAggregatedMrAdded(bytes32 mrAggregated);
    /// @notice Emitted when a KMS aggregated MR was disallowed.
    event KmsAggregatedMrRemoved(bytes32 mrAggregated);
    /// @notice Emitted when a KMS device was allowed.
    event KmsDeviceAdded(bytes32 deviceId);
    /// @notice Emitted when a KMS device was disallowed.
    event KmsDeviceRemoved(bytes32 deviceId);
    /// @notice Emitted when an OS image was allowed.
    event OsImageHashAdded(bytes32 osImageHash);
    /// @notice Emitted when an OS image was disallowed.
    event OsImageHashRemoved(bytes32 osImageHash);
    /// @notice Emitted when the gateway app id changed.
    event GatewayAppIdSet(string gatewayAppId);
    /// @notice Emitted when the factory's app implementation changed.
    event AppImplementationSet(address implementation);
    /// @notice Emitted when the factory deployed and registered `appId` for `deployer`.
    event AppDeployedViaFactory(address indexed appId, address indexed deployer);
    /// @notice Emitted when `osImageHash` was proposed; it is allowed from `activatesAt` on unless vetoed or removed.
    event OsImageHashProposed(bytes32 indexed osImageHash, uint64 activatesAt);
    /// @notice Emitted when `guardian` vetoed the pending `osImageHash`.
    event OsImageHashVetoed(bytes32 indexed osImageHash, address indexed guardian);
    /// @notice Emitted when `mrAggregated` was proposed; it is allowed from `activatesAt` on unless vetoed or removed.
    event KmsAggregatedMrProposed(bytes32 indexed mrAggregated, uint64 activatesAt);
    /// @notice Emitted when `guardian` vetoed the pending `mrAggregated`.
    event KmsAggregatedMrVetoed(bytes32 indexed mrAggregated, address indexed guardian);
    /// @notice Emitted when `deviceId` was proposed; it is allowed from `activatesAt` on unless vetoed or removed.
    event KmsDeviceProposed(bytes32 indexed deviceId, uint64 activatesAt);
    /// @notice Emitted when `guardian` vetoed the pending `deviceId`.
    event KmsDeviceVetoed(bytes32 indexed deviceId, address indexed guardian);
    /// @notice Emitted when an upgrade to `implementation` was proposed, executable from `activatesAt` on.
    event UpgradeProposed(address indexed implementation, uint64 activatesAt);
    /// @notice Emitted when `guardian` vetoed the pending upgrade to `implementation`.
    event UpgradeVetoed(address indexed implementation, address indexed guardian);
    /// @notice Emitted when the notice period and guardian changed with immediate effect.
    event GovernanceNoticeChanged(uint64 noticePeriod, address indexed guardian);
    /// @notice Emitted when a notice change was proposed; it takes effect at `activatesAt` unless vetoed.
    event GovernanceNoticeChangeProposed(uint64 noticePeriod, address indexed guardian, uint64 activatesAt);
    /// @notice Emitted when `vetoedBy` vetoed the pending notice change.
    event GovernanceNoticeChangeVetoed(uint64 noticePeriod, address indexed guardian, address indexed vetoedBy);
    /// @notice Emitted when the owner started replacing `guardian` by `newGuardian` without its
    ///         consent; `newGuardian` takes office at `activatesAt` (twice the notice period).
    event GuardianEscapeProposed(address indexed guardian, address indexed newGuardian, uint64 activatesAt);
    /// @notice Audit event emitted with every policy change (same shape as dstack's).
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    /// @notice The zero address was given as app id.
    error KmsInvalidAppId();
    /// @notice `appId` is already registered.
    error KmsAppAlreadyRegistered(address appId);
    /// @notice `implementation` is not a contract.
    error KmsInvalidImplementation(address implementation);
    /// @notice The factory has no app implementation yet.
    error KmsAppImplementationNotSet();
    /// @notice The zero address was given as the app's owner.
    error KmsInvalidAppOwner();
    /// @notice A one-call `add*` was used while a notice period is in force: use the matching
    ///         `propose*` function ({proposeOsImageHash}, {proposeKmsAggregatedMr}, {proposeKmsDevice}).
    error KmsNoticePeriodActive(uint64 noticePeriod);
    /// @notice The operation is only meaningful while a notice period is in force (use the `add*` function).
    error KmsNoNoticePeriod();
    /// @notice `period` exceeds {MAX_NOTICE_PERIOD}.
    error KmsNoticePeriodTooLong(uint64 period);
    /// @notice `value` is already allowed in the list it was proposed for.
    error KmsAlreadyAllowed(bytes32 value);
    /// @notice `value` is already pending until `activatesAt` in the list it was proposed for.
    error KmsAlreadyPending(bytes32 value, uint64 activatesAt);
    /// @notice `value` is not pending (never proposed, removed, vetoed, or already active).
    error KmsNotPending(bytes32 value);
    /// @notice `caller` is not the guardian (or no guardian is set).
    error KmsUnauthorizedGuardian(address caller);
    /// @notice The upgrade to `implementation` was not proposed.
    error KmsUpgradeNotProposed(address implementation);
    /// @notice The upgrade to `implementation` is not executable before `activatesAt`.
    error KmsUpgradeNotReady(address implementation, uint64 activatesAt);
    /// @notice No upgrade is pending within its notice period.
    error KmsNoPendingUpgrade();
    /// @notice No notice change is pending within its notice period.
    error KmsNoPendingNoticeChange();
    /// @notice The pending notice change is a guardian escape, which the guardian cannot veto; it takes effect at `activatesAt`.
    error KmsGuardianEscapeNotVetoable(uint64 activatesAt);
    /// @notice No guardian is in force, so there is none to escape from (use {setGovernanceNotice}).
    error KmsNoGuardian();

    /// @dev Restricts to the guardian in force; a zero guardian means nobody can veto.
    modifier onlyGuardian() {
        address g = _effectiveNotice().guardian;
        if (g == address(0) || msg.sender != g) revert KmsUnauthorizedGuardian(msg.sender);
        _;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /**
     * @notice Initialize the proxy.
     * @dev Requirements: `initialOwner` non-zero; `appImplementation_` zero or a contract; not initialized yet.
     *      Emits {AppImplementationSet} and {PolicyChanged} when `appImplementation_` is set.
     */
    function initialize(address initialOwner, address appImplementation_) external initializer {
        __Ownable_init(initialOwner); // reverts OwnableInvalidOwner(0) for a zero owner
        __Ownable2Step_init();
        __UUPSUpgradeable_init();
        __ERC165_init();
        if (appImplementation_ != address(0)) _setAppImplementation(appImplementation_);
    }

    // ------------------------------------------------------------------ KMS info

    /**
     * @notice Publish the KMS's root public keys and bootstrap attestation.
     * @dev Requirements: caller is the owner; no root-key rotation has happened yet (then the
     *      keys are the current epoch's, see {activateRootEpoch}). Emits {KmsInfoSet} and {PolicyChanged}.
     */
    function setKmsInfo(KmsInfo calldata info) external onlyOwner {
        uint32 epoch = KeygateRootEpochs.current();
        if (epoch != 0) revert KmsInfoFollowsRootEpoch(epoch);
        _kmsInfo = info;
        emit KmsInfoSet(info.k256Pubkey);
        _emitPolicy(_POLICY_KMS_INFO, keccak256(info.k256Pubkey), true);
    }

    /**
     * @notice Replace the bootstrap quote.
     * @dev Requirements: caller is the owner. Emits {KmsQuoteSet} and {PolicyChanged}.
     */
    function setKmsQuote(bytes calldata quote) external onlyOwner {
        _kmsInfo.quote = quote;
        bytes32 h = keccak256(quote);
        emit KmsQuoteSet(h);
        _emitPolicy(_POLICY_KMS_QUOTE, h, true);
    }

    /**
     * @notice Replace the bootstrap event log.
     * @dev Requirements: caller is the owner. Emits {KmsEventlogSet} and {PolicyChanged}.
     */
    function setKmsEventlog(bytes calldata eventlog) external onlyOwner {
        _kmsInfo.eventlog = eventlog;
        bytes32 h = keccak256(eventlog);
        emit KmsEventlogSet(h);
        _emitPolicy(_POLICY_KMS_EVENTLOG, h, true);
    }

    /// @notice The published KMS info (same outputs as dstack's public `kmsInfo` getter).
    function kmsInfo()
        external
        view
        returns (bytes memory k256Pubkey, bytes memory caPubkey, bytes memory quote, bytes memory eventlog)
    {
        KmsInfo storage i = _kmsInfo;
        return (i.k256Pubkey, i.caPubkey, i.quote, i.eventlog);
    }

    /**
     * @notice Set the app id of the trusted gateway.
     * @dev Requirements: caller is the owner. Emits {GatewayAppIdSet} and {PolicyChanged}.
     */
    function setGatewayAppId(string calldata appId) external onlyOwner {
        _gatewayAppId = appId;
        emit GatewayAppIdSet(appId);
        _emitPolicy(_POLICY_GATEWAY_APP_ID, keccak256(bytes(appId)), true);
    }

    /// @notice The trusted gateway's app id.
    function gatewayAppId() external view returns (string memory) {
        return _gatewayAppId;
    }

    // ------------------------------------------------------------------ app registry and factory

    /**
     * @notice Register `appId` under this KMS.
     * @dev Permissionless, as in dstack: registration confers nothing by itself, because the OS
     *      image allow-list (owner) and the app's own contract still decide every boot, and an
     *      app's keys are derived from its own id.
     *      Requirements: `appId` non-zero and not yet registered. Emits {AppRegistered} and {PolicyChanged}.
     */
    function registerApp(address appId) external {
        if (appId == address(0)) revert KmsInvalidAppId();
        if (_registeredApps[appId]) revert KmsAppAlreadyRegistered(appId);
        _registerApp(appId);
    }

    /// @notice Whether `appId` is registered.
    function registeredApps(address appId) external view returns (bool) {
        return _registeredApps[appId];
    }

    /// @notice How many apps are registered (see {registeredAppPage}).
    function registeredAppCount() external view returns (uint256) {
        return _index().apps.length();
    }

    /**
     * @notice Up to `limit` registered apps from position `offset` on (fewer at the end, none
     *         past it), in registration order (apps are never unregistered). On a proxy upgraded
     *         from a version without enumeration, apps registered before the upgrade appear
     *         only once indexed ({indexExistingEntries}).
     */
    function registeredAppPage(uint256 offset, uint256 limit) external view returns (address[] memory) {
        return _index().apps.values(offset, _pageEnd(offset, limit));
    }

    /**
     * @notice Set the app implementation the factory puts behind new app proxies.
     * @dev Requirements: caller is the owner; `implementation` is a contract.
     *      Emits {AppImplementationSet} and {PolicyChanged}.
     */
    function setAppImplementation(address implementation) external onlyOwner {
        _setAppImplementation(implementation);
    }

    /// @notice The factory's app implementation.
    function appImplementation() external view returns (address) {
        return _appImplementation;
    }

    /**
     * @notice Deploy an app proxy and register it in one transaction (dstack's six-argument form).
     * @dev `requireTcbUpToDate` is the app's TCB policy: true serves only "UpToDate" platforms
     *      (the owner can widen it later), false every status but "Revoked".
     *      The app id is the new proxy's address. Anyone may call it. Requirements: implementation
     *      set; `initialOwner` non-zero. Emits the app's initialization events, {AppRegistered} and
     *      {PolicyChanged} (unless the address was registered beforehand), {AppDeployedViaFactory}.
     * @return appId The new app's id (proxy address).
     */
    function deployAndRegisterApp(
        address initialOwner,
        bool disableUpgrades,
        bool requireTcbUpToDate,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) public returns (address appId) {
        // The dstack-compatible initializer keeps the factory usable with a dstack app implementation.
        bytes memory init = abi.encodeWithSignature(
            "initialize(address,bool,bool,bool,bytes32,bytes32)",
            initialOwner,
            disableUpgrades,
            requireTcbUpToDate,
            allowAnyDevice,
            initialDeviceId,
            initialComposeHash
        );
        return _deployAndRegister(initialOwner, init);
    }

    /**
     * @notice dstack's older five-argument factory form (no TCB requirement).
     * @dev As the six-argument {deployAndRegisterApp} with `requireTcbUpToDate` false: the app
     *      then serves every TCB status the KMS's quote verification accepts, which is all but
     *      "Revoked" (OutOfDate included). Kept for dstack compatibility; prefer a form that
     *      states the TCB policy (`keygate app deploy --tcb` always does).
     */
    function deployAndRegisterApp(
        address initialOwner,
        bool disableUpgrades,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external returns (address appId) {
        return deployAndRegisterApp(
            initialOwner, disableUpgrades, false, allowAnyDevice, initialDeviceId, initialComposeHash
        );
    }

    /**
     * @notice Deploy an app with an upgrade notice (notice period in seconds and guardian) and register it.
     * @dev Requirements: as {deployAndRegisterApp}; the implementation is a {KeygateApp};
     *      `noticePeriod` <= {KeygateApp-MAX_NOTICE_PERIOD}. Emits as {deployAndRegisterApp}.
     * @return appId The new app's id (proxy address).
     */
    function deployAndRegisterAppWithNotice(
        address initialOwner,
        bool disableUpgrades,
        bool requireTcbUpToDate,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash,
        uint64 noticePeriod,
        address guardian
    ) external returns (address appId) {
        bytes memory init = abi.encodeCall(
            KeygateApp.initializeWithNotice,
            (
                initialOwner,
                disableUpgrades,
                requireTcbUpToDate,
                allowAnyDevice,
                initialDeviceId,
                initialComposeHash,
                noticePeriod,
                guardian
            )
        );
        return _deployAndRegister(initialOwner, init);
    }

    function _deployAndRegister(address initialOwner, bytes memory init) private returns (address appId) {
        address implementation = _appImplementation;
        if (implementation == address(0)) revert KmsAppImplementationNotSet();
        if (initialOwner == address(0)) revert KmsInvalidAppOwner();
        // The proxy constructor runs the implementation's initializer; the implementation is the
        // owner's choice, so this external call is trusted as much as the owner is.
        appId = KeygateAppDeployer.deploy(implementation, init);
        // Anyone may register any address, including the factory's next CREATE address. Such a
        // pre-registration must not block the factory, so an existing entry is simply kept.
        if (!_registeredApps[appId]) _registerApp(appId);
        emit AppDeployedViaFactory(appId, msg.sender);
    }

    // ------------------------------------------------------------------ KMS and OS allow-lists

    /**
     * @notice Allow KMS nodes with `mrAggregated` at once.
     * @dev Requirements: caller is the owner; no notice period in force (use {proposeKmsAggregatedMr}).
     *      Emits {KmsAggregatedMrAdded} and {PolicyChanged}.
     */
    function addKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        _requireNoNotice();
        _kmsAllowedAggregatedMrs[mrAggregated] = true;
        _index().kmsAggregatedMrs.add(mrAggregated);
        emit KmsAggregatedMrAdded(mrAggregated);
        _emitPolicy(_POLICY_KMS_MR, mrAggregated, true);
    }

    /**
     * @notice Propose `mrAggregated`; KMS nodes with it are allowed once the notice period has passed.
     * @dev Requirements: caller is the owner; a notice period is in force; the MR is neither
     *      allowed nor pending. Emits {KmsAggregatedMrProposed} and {PolicyChanged}.
     */
    function proposeKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        uint64 activatesAt =
            _propose(_kmsAllowedAggregatedMrs, _kmsAggregatedMrActivatesAt, _index().kmsAggregatedMrs, mrAggregated);
        emit KmsAggregatedMrProposed(mrAggregated, activatesAt);
        _emitPolicy(_POLICY_KMS_MR_PROPOSAL, mrAggregated, true);
    }

    /**
     * @notice Veto the pending `mrAggregated` before it activates.
     * @dev Requirements: caller is the guardian; the MR is pending (block.timestamp < activation).
     *      Emits {KmsAggregatedMrVetoed} and {PolicyChanged}.
     */
    function vetoKmsAggregatedMr(bytes32 mrAggregated) external onlyGuardian {
        _veto(_kmsAllowedAggregatedMrs, _kmsAggregatedMrActivatesAt, _index().kmsAggregatedMrs, mrAggregated);
        emit KmsAggregatedMrVetoed(mrAggregated, msg.sender);
        _emitPolicy(_POLICY_KMS_MR_PROPOSAL, mrAggregated, false);
    }

    /**
     * @notice Disallow `mrAggregated` (allowed or pending) with immediate effect.
     * @dev Requirements: caller is the owner. Never delayed. Emits {KmsAggregatedMrRemoved} and {PolicyChanged}.
     */
    function removeKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        _kmsAllowedAggregatedMrs[mrAggregated] = false;
        delete _kmsAggregatedMrActivatesAt[mrAggregated];
        _index().kmsAggregatedMrs.remove(mrAggregated);
        emit KmsAggregatedMrRemoved(mrAggregated);
        _emitPolicy(_POLICY_KMS_MR, mrAggregated, false);
    }

    /// @notice Whether KMS nodes with `mrAggregated` are allowed at the current block.
    function kmsAllowedAggregatedMrs(bytes32 mrAggregated) public view returns (bool) {
        return _isAllowed(_kmsAllowedAggregatedMrs, _kmsAggregatedMrActivatesAt, mrAggregated);
    }

    /// @notice Activation time of a proposed `mrAggregated`; 0 if not proposed (or vetoed, removed, added at once).
    function kmsAggregatedMrActivatesAt(bytes32 mrAggregated) external view returns (uint64) {
        return _kmsAggregatedMrActivatesAt[mrAggregated];
    }

    /**
     * @notice Allow KMS nodes on `deviceId` at once.
     * @dev Requirements: caller is the owner; no notice period in force (use {proposeKmsDevice}).
     *      Emits {KmsDeviceAdded} and {PolicyChanged}.
     */
    function addKmsDevice(bytes32 deviceId) external onlyOwner {
        _requireNoNotice();
        _kmsAllowedDeviceIds[deviceId] = true;
        _index().kmsDevices.add(deviceId);
        emit KmsDeviceAdded(deviceId);
        _emitPolicy(_POLICY_KMS_DEVICE, deviceId, true);
    }

    /**
     * @notice Propose `deviceId`; KMS nodes on it are allowed once the notice period has passed.
     * @dev Requirements: caller is the owner; a notice period is in force; the device is neither
     *      allowed nor pending. Emits {KmsDeviceProposed} and {PolicyChanged}.
     */
    function proposeKmsDevice(bytes32 deviceId) external onlyOwner {
        uint64 activatesAt = _propose(_kmsAllowedDeviceIds, _kmsDeviceActivatesAt, _index().kmsDevices, deviceId);
        emit KmsDeviceProposed(deviceId, activatesAt);
        _emitPolicy(_POLICY_KMS_DEVICE_PROPOSAL, deviceId, true);
    }

    /**
     * @notice Veto the pending `deviceId` before it activates.
     * @dev Requirements: caller is the guardian; the device is pending. Emits {KmsDeviceVetoed} and {PolicyChanged}.
     */
    function vetoKmsDevice(bytes32 deviceId) external onlyGuardian {
        _veto(_kmsAllowedDeviceIds, _kmsDeviceActivatesAt, _index().kmsDevices, deviceId);
        emit KmsDeviceVetoed(deviceId, msg.sender);
        _emitPolicy(_POLICY_KMS_DEVICE_PROPOSAL, deviceId, false);
    }

    /**
     * @notice Disallow KMS nodes on `deviceId` (allowed or pending) with immediate effect.
     * @dev Requirements: caller is the owner. Never delayed. Emits {KmsDeviceRemoved} and {PolicyChanged}.
     */
    function removeKmsDevice(bytes32 deviceId) external onlyOwner {
        _kmsAllowedDeviceIds[deviceId] = false;
        delete _kmsDeviceActivatesAt[deviceId];
        _index().kmsDevices.remove(deviceId);
        emit KmsDeviceRemoved(deviceId);
        _emitPolicy(_POLICY_KMS_DEVICE, deviceId, false);
    }

    /// @notice Whether KMS nodes on `deviceId` are allowed at the current block.
    function kmsAllowedDeviceIds(bytes32 deviceId) public view returns (bool) {
        return _isAllowed(_kmsAllowedDeviceIds, _kmsDeviceActivatesAt, deviceId);
    }

    /// @notice Activation time of a proposed `deviceId`; 0 if not proposed (or vetoed, removed, added at once).
    function kmsDeviceActivatesAt(bytes32 deviceId) external view returns (uint64) {
        return _kmsDeviceActivatesAt[deviceId];
    }

    /**
     * @notice Allow OS image `osImageHash` (for KMS nodes and apps) at once.
     * @dev Requirements: caller is the owner; no notice period in force (use {proposeOsImageHash}).
     *      Emits {OsImageHashAdded} and {PolicyChanged}.
     */
    function addOsImageHash(bytes32 osImageHash) external onlyOwner {
        _requireNoNotice();
        _allowedOsImages[osImageHash] = true;
        _index().osImages.add(osImageHash);
        emit OsImageHashAdded(osImageHash);
        _emitPolicy(_POLICY_OS_IMAGE, osImageHash, true);
    }

    /**
     * @notice Propose OS image `osImageHash`; it is allowed once the notice period has passed.
     * @dev Requirements: caller is the owner; a notice period is in force; the image is neither
     *      allowed nor pending. Emits {OsImageHashProposed} and {PolicyChanged}.
     */
    function proposeOsImageHash(bytes32 osImageHash) external onlyOwner {
        uint64 activatesAt = _propose(_allowedOsImages, _osImageActivatesAt, _index().osImages, osImageHash);
        emit OsImageHashProposed(osImageHash, activatesAt);
        _emitPolicy(_POLICY_OS_IMAGE_PROPOSAL, osImageHash, true);
    }

    /**
     * @notice Veto the pending OS image `osImageHash` before it activates.
     * @dev Requirements: caller is the guardian; the image is pending. Emits {OsImageHashVetoed} and {PolicyChanged}.
     */
    function vetoOsImageHash(bytes32 osImageHash) external onlyGuardian {
        _veto(_allowedOsImages, _osImageActivatesAt, _index().osImages, osImageHash);
        emit OsImageHashVetoed(osImageHash, msg.sender);
        _emitPolicy(_POLICY_OS_IMAGE_PROPOSAL, osImageHash, false);
    }

    /**
     * @notice Disallow OS image `osImageHash` (allowed or pending) with immediate effect.
     * @dev Requirements: caller is the owner. Never delayed. Emits {OsImageHashRemoved} and {PolicyChanged}.
     */
    function removeOsImageHash(bytes32 osImageHash) external onlyOwner {
        _allowedOsImages[osImageHash] = false;
        delete _osImageActivatesAt[osImageHash];
        _index().osImages.remove(osImageHash);
        emit OsImageHashRemoved(osImageHash);
        _emitPolicy(_POLICY_OS_IMAGE, osImageHash, false);
    }

    /// @notice Whether OS image `osImageHash` is allowed at the current block.
    function allowedOsImages(bytes32 osImageHash) public view returns (bool) {
        return _isAllowed(_allowedOsImages, _osImageActivatesAt, osImageHash);
    }

    /// @notice Activation time of a proposed `osImageHash`; 0 if not proposed (or vetoed, removed, added at once).
    function osImageHashActivatesAt(bytes32 osImageHash) external view returns (uint64) {
        return _osImageActivatesAt[osImageHash];
    }

    // ------------------------------------------------------------------ enumeration of the allow-lists

    /// @notice How many OS images are allowed or pending (see {osImagePage}).
    function osImageCount() external view returns (uint256) {
        return _index().osImages.length();
    }

    /**
     * @notice Up to `limit` OS images that are allowed or pending, from position `offset` on
     *         (fewer at the end, none past it); {allowedOsImages} and {osImageHashActivatesAt}
     *         tell which. Order is arbitrary and changes when one is removed.
     */
    function osImagePage(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _index().osImages.values(offset, _pageEnd(offset, limit));
    }

    /// @notice How many KMS aggregated MRs are allowed or pending (see {kmsAggregatedMrPage}).
    function kmsAggregatedMrCount() external view returns (uint256) {
        return _index().kmsAggregatedMrs.length();
    }

    /// @notice Up to `limit` KMS aggregated MRs that are allowed or pending (as {osImagePage}).
    function kmsAggregatedMrPage(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _index().kmsAggregatedMrs.values(offset, _pageEnd(offset, limit));
    }

    /// @notice How many KMS devices are allowed or pending (see {kmsDevicePage}).
    function kmsDeviceCount() external view returns (uint256) {
        return _index().kmsDevices.length();
    }

    /// @notice Up to `limit` KMS devices that are allowed or pending (as {osImagePage}).
    function kmsDevicePage(uint256 offset, uint256 limit) external view returns (bytes32[] memory) {
        return _index().kmsDevices.values(offset, _pageEnd(offset, limit));
    }

    /**
     * @notice Add entries made before this version to the enumeration: each app, OS image, KMS
     *         aggregated MR and KMS device given is indexed if the registry or allow-list holds
     *         it (added, or proposed and not vetoed); others, and those already indexed, are
     *         skipped. For a proxy upgraded from a version without enumeration; the candidates
     *         come from the contract's events.
     * @dev Anyone may call it: it only makes the index reflect the mappings, which decide.
     */
    function indexExistingEntries(
        address[] calldata appIds,
        bytes32[] calldata osImageHashes,
        bytes32[] calldata mrAggregated,
        bytes32[] calldata deviceIds
    ) external {
        KmsIndexStorage storage $ = _index();
        for (uint256 i = 0; i < appIds.length; ++i) {
            if (_registeredApps[appIds[i]]) $.apps.add(appIds[i]);
        }
        _indexExisting(_allowedOsImages, _osImageActivatesAt, $.osImages, osImageHashes);
        _indexExisting(_kmsAllowedAggregatedMrs, _kmsAggregatedMrActivatesAt, $.kmsAggregatedMrs, mrAggregated);
        _indexExisting(_kmsAllowedDeviceIds, _kmsDeviceActivatesAt, $.kmsDevices, deviceIds);
    }

    // ------------------------------------------------------------------ governance notice

    /**
     * @notice Set the notice period (seconds) and guardian of this contract's own governance.
     * @dev Applies at once when no notice period is in force, or when the period does not
     *      decrease and the guardian stays the same (waiting longer never hurts anyone; a
     *      pending change is dropped). Otherwise it becomes a pending change effective after
     *      the current notice period, vetoable by the current guardian; a newer proposal
     *      replaces (and restarts) a pending one, a pending {escapeGuardian} included. A
     *      guardian that vetoes every such change can be replaced with {escapeGuardian}.
     *      Requirements: caller is the owner; `noticePeriod` <= {MAX_NOTICE_PERIOD}.
     *      Emits {GovernanceNoticeChanged} or {GovernanceNoticeChangeProposed}, and {PolicyChanged}.
     */
    function setGovernanceNotice(uint64 noticePeriod, address guardian_) external onlyOwner {
        if (noticePeriod > MAX_NOTICE_PERIOD) revert KmsNoticePeriodTooLong(noticePeriod);
        _settleNotice();
        GovernanceNotice memory current = _notice;
        if (current.period == 0 || (noticePeriod >= current.period && guardian_ == current.guardian)) {
            delete _pendingNotice;
            delete _pendingNoticeActivatesAt;
            delete _pendingNoticeIsEscape;
            _setNotice(noticePeriod, guardian_);
            return;
        }
        uint64 activatesAt = uint64(block.timestamp) + current.period;
        _pendingNotice = GovernanceNotice(noticePeriod, guardian_);
        _pendingNoticeActivatesAt = activatesAt;
        _pendingNoticeIsEscape = false;
        emit GovernanceNoticeChangeProposed(noticePeriod, guardian_, activatesAt);
        _emitPolicy(_POLICY_GOVERNANCE_NOTICE, bytes32(uint256(noticePeriod)), true);
    }

    /**
     * @notice Veto the pending notice change before it takes effect.
     * @dev Requirements: caller is the guardian; a notice change is pending and not yet
     *      effective, and it is not a guardian escape ({escapeGuardian}).
     *      Emits {GovernanceNoticeChangeVetoed} and {PolicyChanged}.
     */
    function vetoGovernanceNoticeChange() external onlyGuardian {
        _settleNotice();
        if (_pendingNoticeActivatesAt == 0) revert KmsNoPendingNoticeChange();
        if (_pendingNoticeIsEscape) revert KmsGuardianEscapeNotVetoable(_pendingNoticeActivatesAt);
        GovernanceNotice memory vetoed = _pendingNotice;
        delete _pendingNotice;
        delete _pendingNoticeActivatesAt;
        emit GovernanceNoticeChangeVetoed(vetoed.period, vetoed.guardian, msg.sender);
        _emitPolicy(_POLICY_GOVERNANCE_NOTICE, bytes32(uint256(vetoed.period)), false);
    }

    /**
     * @notice Replace the guardian without its consent: `newGuardian` takes office at
     *         `now + 2 * notice period`, the notice period unchanged, and the guardian in force
     *         cannot veto it. The way out of a hostile or lost guardian that vetoes every
     *         proposal, every upgrade and every {setGovernanceNotice}, its own replacement included.
     * @dev It cannot be used to skip the notice (the reasoning of {KeygateApp-escapeGuardian}):
     *      the period, and so {guaranteedNotice} and what apps are promised, stays as it is;
     *      every allow-list addition or upgrade still waits out the period from its own
     *      proposal; the guardian in force keeps its veto until the new one takes office, twice
     *      the period away; and the escape is public from its first block. A compromised owner
     *      gets a change the current guardian would veto through no sooner than 3 periods after
     *      announcing the escape, instead of never.
     *      Replaces (and restarts) a pending notice change; a later {setGovernanceNotice}
     *      replaces a pending escape in turn (the owner's own choice).
     *      Requirements: caller is the owner; a notice period and a guardian are in force.
     *      Emits {GuardianEscapeProposed} and {PolicyChanged}.
     */
    function escapeGuardian(address newGuardian) external onlyOwner {
        _settleNotice();
        GovernanceNotice memory current = _notice;
        if (current.period == 0) revert KmsNoNoticePeriod();
        if (current.guardian == address(0)) revert KmsNoGuardian();
        uint64 activatesAt = uint64(block.timestamp) + 2 * current.period;
        _pendingNotice = GovernanceNotice(current.period, newGuardian);
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
    function governanceNotice() external view returns (uint64 noticePeriod, address guardian_) {
        GovernanceNotice memory n = _effectiveNotice();
        return (n.period, n.guardian);
    }

    /// @notice The notice change waiting for its activation time; all zero if none. A pending
    ///         guardian escape shows here too (with the unchanged period); {pendingGuardianEscape} tells them apart.
    function pendingGovernanceNotice()
        external
        view
        returns (uint64 noticePeriod, address guardian_, uint64 activatesAt)
    {
        if (_pendingNoticeActivatesAt == 0 || block.timestamp >= _pendingNoticeActivatesAt) {
            return (0, address(0), 0);
        }
        return (_pendingNotice.period, _pendingNotice.guardian, _pendingNoticeActivatesAt);
    }

    /**
     * @notice The shortest notice, in seconds, that any change of this contract's allow-lists
     *         or implementation gets from now on: pending ones and those proposed later.
     * @dev The notice period in force, or less while a proposal made under a shorter period may
     *      still be pending (after an increase, until the last proposal made before it has
     *      activated). Raising the period at once therefore cannot hide a proposal that was
     *      announced with a shorter notice. {isAppAllowed} compares this with the app's notice.
     */
    function guaranteedNotice() public view returns (uint64) {
        uint64 period = _effectiveNotice().period;
        if (block.timestamp < _shortestPendingLeadUntil && _shortestPendingLead < period) return _shortestPendingLead;
        return period;
    }

    // ------------------------------------------------------------------ implementation upgrades

    /**
     * @notice Propose an upgrade to `implementation`, executable once the notice period has passed.
     * @dev Requirements: caller is the owner; a notice period is in force; `implementation` has
     *      code. A newer proposal replaces (and restarts) a pending one.
     *      Emits {UpgradeProposed} and {PolicyChanged}.
     */
    function proposeUpgrade(address implementation) external onlyOwner {
        uint64 period = _effectiveNotice().period;
        if (period == 0) revert KmsNoNoticePeriod();
        if (implementation.code.length == 0) revert KmsInvalidImplementation(implementation);
        uint64 activatesAt = uint64(block.timestamp) + period;
        _pendingImplementation = implementation;
        _pendingImplementationActivatesAt = activatesAt;
        _recordLead(period, activatesAt);
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
            revert KmsNoPendingUpgrade();
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

    // ------------------------------------------------------------------ authorization

    /**
     * @notice Whether a KMS node booted as `bootInfo` may hold the root keys.
     * @dev Checks, in order: TCB status "UpToDate", OS image, aggregated MR, device (proposed
     *      values count from their activation time on). Reasons: "tcb status not up to date", "os image not allowed", "aggregated mr not allowed",
     *      "kms device not allowed".
     */
    function isKmsAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (keccak256(bytes(bootInfo.tcbStatus)) != _TCB_UP_TO_DATE) return (false, "tcb status not up to date");
        if (!allowedOsImages(bootInfo.osImageHash)) return (false, "os image not allowed");
        if (!kmsAllowedAggregatedMrs(bootInfo.mrAggregated)) return (false, "aggregated mr not allowed");
        if (!kmsAllowedDeviceIds(bootInfo.deviceId)) return (false, "kms device not allowed");
        return (true, "");
    }

    /**
     * @inheritdoc IAppAuth
     * @dev Checks, in order: app registered, OS image allowed, app has code, the KMS governance
     *      notice is not shorter than the app's, then the app's own {IAppAuth-isAppAllowed}.
     *      Fails closed: a reverting app answers "app contract call failed", and a denial without
     *      a reason becomes "denied by app contract".
     *      Reasons: "app not registered", "os image not allowed", "app has no code",
     *      "KMS governance notice (N s) is shorter than the app's notice (M s)", plus the app's.
     *
     *      The notice check: an app that answers `upgradeNotice()` (KeygateApp) with a period M
     *      is denied while {guaranteedNotice} N < M, because the owner of this contract could
     *      otherwise allow an OS image or KMS build, or upgrade this contract to code that
     *      ignores the app, faster than the app's own notice lets its users react. Apps without
     *      that getter (dstack's DstackApp, other IAppAuth contracts) are not affected. The check
     *      binds only this implementation; what keeps a malicious successor from skipping it is
     *      that the upgrade to it is itself time-locked here: with N >= M it is public (and
     *      vetoable) for at least M seconds, and N can only drop below M with a notice of the
     *      current period, after which this check denies the app until the upgrade could land.
     *      The checks from "app has code" on are the linked library {KeygateAppGate} (this
     *      contract's code size); it runs in this contract's context, so the app sees this
     *      contract as the caller, as before.
     */
    function isAppAllowed(AppBootInfo calldata bootInfo)
        external
        view
        override
        returns (bool isAllowed, string memory reason)
    {
        if (!_registeredApps[bootInfo.appId]) return (false, "app not registered");
        if (!allowedOsImages(bootInfo.osImageHash)) return (false, "os image not allowed");
        return KeygateAppGate.ask(bootInfo, guaranteedNotice());
    }

    // ------------------------------------------------------------------ recovery holders
    //
    // The holders of Shamir shares of every sealed root-key file's data-encryption key
    // (docs/design.md, "Sealed root keys"): X25519 public keys and a threshold. A KMS node seals
    // to the holders named here whenever it writes its sealed file, so new holders could open
    // every file sealed after the change: a change waits out the governance notice and can be
    // vetoed by the guardian, like a new KMS measurement. The state and logic are the linked
    // library {KeygateRecoveryHolders} (this contract's code size), in its own ERC-7201
    // namespace (`keygate.kms.recovery`) of this proxy's storage.

    /// @notice Upper bound on the number of recovery holders (the KMS's Shamir implementation's).
    uint256 public constant MAX_RECOVERY_HOLDERS = KeygateRecoveryHolders.MAX_HOLDERS;

    // Emitted by {KeygateRecoveryHolders} in this contract's context; declared here for the ABI.
    /// @notice Emitted when the recovery holders and threshold took effect at once.
    event RecoveryHoldersSet(bytes32[] holders, uint8 threshold);
    /// @notice Emitted when new recovery holders were proposed, effective at `activatesAt`.
    event RecoveryHoldersProposed(bytes32[] holders, uint8 threshold, uint64 activatesAt);
    /// @notice Emitted when the guardian vetoed the pending recovery holders.
    event RecoveryHoldersVetoed(address indexed guardian);

    /// @notice The holder list or threshold is not 1 <= threshold <= count <= MAX_RECOVERY_HOLDERS
    ///         (or an empty list with threshold 0, which removes recovery).
    error KmsInvalidRecoveryThreshold(uint256 count, uint8 threshold);
    /// @notice A holder key is zero or named twice.
    error KmsInvalidRecoveryHolder(bytes32 holder);
    /// @notice No recovery holder change is pending.
    error KmsNoPendingRecoveryHolders();

    /**
     * @notice Name the recovery holders (X25519 public keys) and the threshold at once.
     * @dev Requirements: caller is the owner; no notice period in force (use
     *      {proposeRecoveryHolders}); 1 <= threshold <= holders.length <= MAX_RECOVERY_HOLDERS,
     *      or no holders and threshold 0; no zero or repeated key. Drops a pending proposal.
     *      Emits {RecoveryHoldersSet} and {PolicyChanged}.
     */
    function setRecoveryHolders(bytes32[] calldata holders, uint8 threshold) external onlyOwner {
        _requireNoNotice();
        KeygateRecoveryHolders.set(holders, threshold);
    }

    /**
     * @notice Propose new recovery holders and threshold; they replace the current ones once the
     *         notice period has passed.
     * @dev Requirements: caller is the owner; a notice period is in force; the same checks as
     *      {setRecoveryHolders}. A newer proposal replaces (and restarts) a pending one.
     *      Emits {RecoveryHoldersProposed} and {PolicyChanged}.
     */
    function proposeRecoveryHolders(bytes32[] calldata holders, uint8 threshold) external onlyOwner {
        uint64 period = _effectiveNotice().period;
        if (period == 0) revert KmsNoNoticePeriod();
        KeygateRecoveryHolders.propose(holders, threshold, period);
    }

    /**
     * @notice Veto the pending recovery holders before they take effect.
     * @dev Requirements: caller is the guardian; a change is pending (block.timestamp < activation).
     *      Emits {RecoveryHoldersVetoed} and {PolicyChanged}.
     */
    function vetoRecoveryHolders() external onlyGuardian {
        KeygateRecoveryHolders.veto();
    }

    /// @notice The recovery holders and threshold in force at the current block (a matured
    ///         proposal included). Empty with threshold 0: no recovery.
    function recoveryHolders() external view returns (bytes32[] memory holders, uint8 threshold) {
        return KeygateRecoveryHolders.current();
    }

    /// @notice The pending recovery holder change, if any (activatesAt 0: none).
    function pendingRecoveryHolders()
        external
        view
        returns (bytes32[] memory holders, uint8 threshold, uint64 activatesAt)
    {
        return KeygateRecoveryHolders.pending();
    }

    // ------------------------------------------------------------------ root-key epochs
    //
    // Rotation of the KMS root keys (docs/design.md, "Root-key epochs"). The state and logic are
    // the linked library {KeygateRootEpochs}, in its own ERC-7201 namespace
    // (`keygate.storage.KmsRootEpochs`) of this proxy's storage. Status numbers of {rootEpoch}:
    // 0 None, 1 Proposed, 2 Current, 3 Retiring, 4 Retired.

    // Emitted by {KeygateRootEpochs} in this contract's context; declared here for the ABI.
    /// @notice Emitted when `epoch` was proposed; the owner can activate it from `activatesAt` on
    ///         unless the guardian vetoes it before. `quote` (keccak256 = `attestationHash`) and
    ///         `eventlog` are the proposing node's attestation of the keys (not stored).
    event RootEpochProposed(
        uint32 indexed epoch,
        bytes caPubkey,
        bytes k256Pubkey,
        bytes32 attestationHash,
        uint64 activatesAt,
        bytes quote,
        bytes eventlog
    );
    /// @notice Emitted when the guardian vetoed the proposed `epoch` (its number is free again).
    event RootEpochVetoed(uint32 indexed epoch);
    /// @notice Emitted when `epoch` became Current (and the previous one Retiring); {KmsInfoSet} follows.
    event RootEpochActivated(uint32 indexed epoch);
    /// @notice Emitted when the Retiring `epoch` was retired.
    event RootEpochRetired(uint32 indexed epoch);

    /// @notice A proposal must be for `expected` (the current epoch + 1).
    error KmsRootEpochWrongNumber(uint32 epoch, uint32 expected);
    /// @notice `epoch` is already proposed (at most one proposal at a time).
    error KmsRootEpochAlreadyPending(uint32 epoch);
    /// @notice The proposed secp256k1 key is not a 33-byte compressed point on the curve.
    error KmsRootEpochK256KeyInvalid();
    /// @notice The proposed root CA key is empty or longer than 512 bytes.
    error KmsRootEpochCaKeyInvalid(uint256 length);
    /// @notice `attestationHash` is not keccak256 of the (non-empty) quote, `quoteHash`.
    error KmsRootEpochAttestationMismatch(bytes32 attestationHash, bytes32 quoteHash);
    /// @notice The proposing node's identity is not allowed now ({isKmsAllowed}'s `reason`).
    error KmsRootEpochProposerNotAllowed(string reason);
    /// @notice `epoch` is not proposed, or (veto) its activation time has come.
    error KmsRootEpochNotPending(uint32 epoch);
    /// @notice `epoch` cannot be activated before `activatesAt`.
    error KmsRootEpochNotReady(uint32 epoch, uint64 activatesAt);
    /// @notice `epoch` is not Retiring (its `status` is given).
    error KmsRootEpochNotRetiring(uint32 epoch, uint8 status);
    /// @notice The KMS info's keys are those of the Current `epoch` (> 0): {setKmsInfo} is closed.
    error KmsInfoFollowsRootEpoch(uint32 epoch);

    /**
     * @notice Propose root epoch `epoch`: keys generated inside a KMS node's TEE and attested by
     *         its quote, whose REPORTDATA binds chain, this contract, `epoch` and both keys
     *         (docs/design.md, "Root-key epochs"). Activatable after {guaranteedNotice}.
     * @dev Requirements: caller is the owner; `epoch` is {currentRootEpoch} + 1 and not already
     *      proposed; `k256Pubkey` a compressed secp256k1 point (33 bytes); `caPubkey` (root CA
     *      SubjectPublicKeyInfo DER) 1..512 bytes; `attestationHash` == keccak256(`quote`);
     *      the proposer's aggregated MR, device and OS image allowed now by {isKmsAllowed}.
     *      Only `attestationHash` is stored: `quote` and `eventlog` go to the event.
     *      Emits {RootEpochProposed} and {PolicyChanged}.
     */
    function proposeRootEpoch(
        uint32 epoch,
        bytes memory caPubkey,
        bytes memory k256Pubkey,
        bytes32 attestationHash,
        bytes32 proposerMrAggregated,
        bytes32 proposerDeviceId,
        bytes32 proposerOsImageHash,
        bytes memory quote,
        bytes memory eventlog
    ) external onlyOwner {
        // Memory, not calldata, arguments: nine of them (thirteen words as calldata) are too
        // deep for the legacy code generator's stack.
        KeygateRootEpochs.propose(
            epoch,
            caPubkey,
            k256Pubkey,
            attestationHash,
            [proposerMrAggregated, proposerDeviceId, proposerOsImageHash],
            quote,
            eventlog
        );
    }

    /**
     * @notice Veto the proposed `epoch` before its activation time; the number may be proposed again.
     * @dev Requirements: caller is the guardian. Emits {RootEpochVetoed} and {PolicyChanged}.
     */
    function vetoRootEpoch(uint32 epoch) external onlyGuardian {
        KeygateRootEpochs.veto(epoch);
    }

    /**
     * @notice Make the proposed `epoch` Current: the previous Current becomes Retiring (KMS nodes
     *         release its keys next to the current ones so apps can migrate), and {kmsInfo}'s
     *         `k256Pubkey`/`caPubkey` become the new epoch's (dstack clients see the current
     *         root; log signatures are then checked against it).
     * @dev Requirements: caller is the owner; `epoch` proposed; its activation time has come.
     *      Emits {RootEpochActivated}, {KmsInfoSet} and {PolicyChanged}.
     */
    function activateRootEpoch(uint32 epoch) external onlyOwner {
        KeygateRootEpochs.activate(epoch, _kmsInfo);
    }

    /**
     * @notice Retire the Retiring `epoch` at once: KMS nodes wipe its root and release nothing
     *         derived from it again. Its public keys stay readable ({rootEpoch}).
     * @dev Requirements: caller is the owner. Emits {RootEpochRetired} and {PolicyChanged}.
     */
    function retireRootEpoch(uint32 epoch) external onlyOwner {
        KeygateRootEpochs.retire(epoch);
    }

    /// @notice The Current root epoch (0 until the first rotation).
    function currentRootEpoch() external view returns (uint32) {
        return KeygateRootEpochs.current();
    }

    /**
     * @notice Root epoch `epoch`: status (0 None, 1 Proposed, 2 Current, 3 Retiring, 4 Retired),
     *         root CA SubjectPublicKeyInfo DER, compressed secp256k1 key, activation time
     *         (proposals; 0 for epoch 0) and keccak256 of the proposing quote (0 for epoch 0).
     *         Epoch 0 before any rotation: (Current, {kmsInfo}'s keys, 0, 0).
     */
    function rootEpoch(uint32 epoch)
        external
        view
        returns (
            uint8 status,
            bytes memory caPubkey,
            bytes memory k256Pubkey,
            uint64 activatesAt,
            bytes32 attestationHash
        )
    {
        return KeygateRootEpochs.get(epoch, _kmsInfo);
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
        return interfaceId == type(IAppAuth).interfaceId || super.supportsInterface(interfaceId);
    }

    /**
     * @dev UUPS hook. Requirements: caller is the owner; with a notice period in force,
     *      `newImplementation` is the proposed one and its activation time has come.
     *      Emits {PolicyChanged} (the proxy emits {IERC1967-Upgraded}).
     */
    function _authorizeUpgrade(address newImplementation) internal override onlyOwner {
        if (_effectiveNotice().period != 0) {
            if (_pendingImplementation == address(0) || newImplementation != _pendingImplementation) {
                revert KmsUpgradeNotProposed(newImplementation);
            }
            if (block.timestamp < _pendingImplementationActivatesAt) {
                revert KmsUpgradeNotReady(newImplementation, _pendingImplementationActivatesAt);
            }
        }
        delete _pendingImplementation;
        delete _pendingImplementationActivatesAt;
        _emitPolicy(_POLICY_IMPLEMENTATION, _addressToBytes32(newImplementation), true);
    }

    // ------------------------------------------------------------------ decision log anchor

    /// @dev The root key {KeygateLogAnchor} checks signatures against: {kmsInfo}'s `k256Pubkey`.
    function _logRootK256() internal view override returns (bytes memory) {
        return _kmsInfo.k256Pubkey;
    }

    // ------------------------------------------------------------------ internals

    function _registerApp(address appId) private {
        _registeredApps[appId] = true;
        _index().apps.add(appId);
        emit AppRegistered(appId);
        _emitPolicy(_POLICY_REGISTERED_APP, _addressToBytes32(appId), true);
    }

    function _setAppImplementation(address implementation) private {
        if (implementation.code.length == 0) revert KmsInvalidImplementation(implementation);
        _appImplementation = implementation;
        emit AppImplementationSet(implementation);
        _emitPolicy(_POLICY_APP_IMPLEMENTATION, _addressToBytes32(implementation), true);
    }

    /// @dev Reverts when a notice period is in force: the one-call `add*` functions are then closed.
    function _requireNoNotice() private view {
        uint64 period = _effectiveNotice().period;
        if (period != 0) revert KmsNoticePeriodActive(period);
    }

    function _isAllowed(
        mapping(bytes32 => bool) storage added,
        mapping(bytes32 => uint64) storage activatesAt,
        bytes32 v
    ) private view returns (bool) {
        if (added[v]) return true;
        uint64 at = activatesAt[v];
        return at != 0 && block.timestamp >= at;
    }

    /// @dev Records a proposal of `v` in `activatesAt` and `index`; returns its activation time. See {proposeOsImageHash}.
    function _propose(
        mapping(bytes32 => bool) storage added,
        mapping(bytes32 => uint64) storage activatesAt,
        EnumerableSet.Bytes32Set storage index,
        bytes32 v
    ) private returns (uint64 at) {
        uint64 period = _effectiveNotice().period;
        if (period == 0) revert KmsNoNoticePeriod();
        if (_isAllowed(added, activatesAt, v)) revert KmsAlreadyAllowed(v);
        at = activatesAt[v];
        if (at != 0) revert KmsAlreadyPending(v, at);
        at = uint64(block.timestamp) + period;
        activatesAt[v] = at;
        index.add(v);
        _recordLead(period, at);
    }

    /// @dev Drops the pending proposal of `v`, and its index entry unless `v` was also added
    ///      at once (possible after the notice fell to zero). See {vetoOsImageHash}.
    function _veto(
        mapping(bytes32 => bool) storage added,
        mapping(bytes32 => uint64) storage activatesAt,
        EnumerableSet.Bytes32Set storage index,
        bytes32 v
    ) private {
        uint64 at = activatesAt[v];
        if (at == 0 || block.timestamp >= at) revert KmsNotPending(v);
        delete activatesAt[v];
        if (!added[v]) index.remove(v);
    }

    /// @dev Indexes each of `values` that is added or proposed. See {indexExistingEntries}.
    function _indexExisting(
        mapping(bytes32 => bool) storage added,
        mapping(bytes32 => uint64) storage activatesAt,
        EnumerableSet.Bytes32Set storage index,
        bytes32[] calldata values
    ) private {
        for (uint256 i = 0; i < values.length; ++i) {
            bytes32 v = values[i];
            if (added[v] || activatesAt[v] != 0) index.add(v);
        }
    }

    function _index() private pure returns (KmsIndexStorage storage $) {
        assembly {
            $.slot := _KMS_INDEX_STORAGE
        }
    }

    /// @dev `offset + limit`, saturating: the set's `values(start, end)` clamps it to the length.
    function _pageEnd(uint256 offset, uint256 limit) private pure returns (uint256) {
        unchecked {
            uint256 end = offset + limit;
            return end < offset ? type(uint256).max : end;
        }
    }

    /// @dev Keeps the shortest notice among proposals that may still be pending (see {guaranteedNotice}).
    ///      A veto does not shorten the window: that only errs on the side of a shorter guarantee.
    function _recordLead(uint64 lead, uint64 activatesAt) private {
        if (block.timestamp >= _shortestPendingLeadUntil) {
            _shortestPendingLead = lead;
            _shortestPendingLeadUntil = activatesAt;
            return;
        }
        if (lead < _shortestPendingLead) _shortestPendingLead = lead;
        if (activatesAt > _shortestPendingLeadUntil) _shortestPendingLeadUntil = activatesAt;
    }

    function _setNotice(uint64 noticePeriod, address guardian_) private {
        _notice = GovernanceNotice(noticePeriod, guardian_);
        emit GovernanceNoticeChanged(noticePeriod, guardian_);
        _emitPolicy(_POLICY_GOVERNANCE_NOTICE, bytes32(uint256(noticePeriod)), true);
    }

    /// @dev The notice in force now: the pending change once its activation time has come.
    function _effectiveNotice() private view returns (GovernanceNotice memory) {
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

    function _emitPolicy(bytes32 policy, bytes32 value, bool enabled) private {
        emit PolicyChanged(msg.sender, policy, value, enabled);
    }

    function _addressToBytes32(address a) private pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }
}
