using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Shoal.Core;

namespace Shoal.Net.Discovery;

/// <summary>Counts of what discovery heard and did, for status output and tests.</summary>
public readonly record struct DiscoveryStatistics(
    long Sent, long Received, long Accepted, long Oversized, long DisallowedSource, long RateLimited, long Invalid, long Own, long Stale)
{
    /// <summary>
    /// Datagrams whose fate is decided: each received one ends in exactly one outcome. <see cref="Received"/> counts
    /// on arrival, so only this says the other counts are final.
    /// </summary>
    public long Processed => Accepted + Oversized + DisallowedSource + RateLimited + Invalid + Own + Stale;
}

/// <summary>
/// Zero-configuration discovery of the network's members on the local link. Announces this node at start, every
/// <see cref="DiscoveryOptions.Interval"/>, when <see cref="AnnounceNow"/> is called and when the transport reports
/// an address change; also when it first hears a member, so a node that starts later learns of earlier ones at once.
/// Hears others' announcements and keeps a table of members by device id that expires entries not heard from.
/// <para>
/// An announcement only says where a member may be reached; who answers is established by the TLS handshake and the
/// membership proof, never by discovery. Bad input (oversized, malformed, replayed, for another network, from a
/// disallowed source, or a flood beyond the per-source and global rates) is dropped with a debug log; nothing thrown
/// by the transport or by handlers ends the loops.
/// </para>
/// </summary>
public sealed class LanDiscovery : IAsyncDisposable
{
    // A spoofed-source flood can name endless addresses; past this many the per-source table starts over, and the
    // global rate still bounds what gets through.
    private const int MaxTrackedSources = 4096;

    private static readonly TimeSpan ErrorPause = TimeSpan.FromSeconds(1);

    private readonly IDatagramTransport _transport;
    private readonly byte[] _key;
    private readonly DeviceId _self;
    private readonly Func<Announcement> _current;
    private readonly DiscoveryOptions _options;
    private readonly TimeSpan _expiry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<IPAddress, bool>? _isAllowedSource;
    private readonly Lock _gate = new();
    private readonly Dictionary<DeviceId, Entry> _peers = [];
    private readonly Dictionary<IPAddress, PacketRateLimiter> _sourceLimits = [];
    private readonly PacketRateLimiter _globalLimit;
    private readonly Channel<bool> _wake =
        Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private Task[] _loops = [];
    private PeriodicTimer? _timer;
    private int _started;
    private int _disposed;
    private long _sent, _received, _accepted, _oversized, _disallowed, _rateLimited, _invalid, _own, _stale;

    /// <param name="transport">Owned: disposed with this object.</param>
    /// <param name="key">From <see cref="DiscoveryPacket.DeriveKey"/>.</param>
    /// <param name="current">What to announce; called at every announcement, so it can follow address changes.</param>
    /// <param name="isAllowedSource">Sources to hear from (for example, not banned); all when null.</param>
    public LanDiscovery(
        IDatagramTransport transport,
        byte[] key,
        DeviceId self,
        Func<Announcement> current,
        DiscoveryOptions options,
        TimeProvider time,
        ILogger logger,
        Func<IPAddress, bool>? isAllowedSource = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(options);
        if (key.Length != DiscoveryPacket.KeySize)
        {
            throw new ArgumentException($"A discovery key has {DiscoveryPacket.KeySize} bytes, not {key.Length}.", nameof(key));
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Interval, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Expiry, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.PerSourceRate, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.GlobalRate, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxPeers, nameof(options));

        _transport = transport;
        _key = [.. key];
        _self = self;
        _current = current;
        _options = options;
        _expiry = options.Expiry;
        _time = time;
        _logger = logger;
        _isAllowedSource = isAllowedSource;
        _globalLimit = new PacketRateLimiter(options.GlobalRate, time);
    }

    /// <summary>
    /// Raised when a member is first heard (or heard again after it expired), when it announces an address not
    /// already known, and when its name changes; not for plain re-announcements. Raised on the receive loop: a
    /// handler should hand the peer off rather than dial from inside the event.
    /// </summary>
    public event Action<DiscoveredPeer>? Discovered;

    /// <summary>Members heard within the expiry, with the addresses heard within it.</summary>
    public IReadOnlyList<DiscoveredPeer> Peers
    {
        get
        {
            var now = _time.GetUtcNow();
            lock (_gate)
            {
                return [.. _peers
                    .Where(p => !IsExpired(p.Value.LastHeard, now))
                    .Select(p => p.Value.ToPeer(p.Key, now, _expiry))
                    .OrderBy(p => p.Device)];
            }
        }
    }

    public DiscoveryStatistics Statistics => new(
        Interlocked.Read(ref _sent),
        Interlocked.Read(ref _received),
        Interlocked.Read(ref _accepted),
        Interlocked.Read(ref _oversized),
        Interlocked.Read(ref _disallowed),
        Interlocked.Read(ref _rateLimited),
        Interlocked.Read(ref _invalid),
        Interlocked.Read(ref _own),
        Interlocked.Read(ref _stale));

    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("Discovery is already started.");
        _transport.LocalAddressesChanged += AnnounceNow;
        AnnounceNow();
        var stopping = _stopping.Token;
        // Created here rather than in its loop, so the first interval counts from Start and not from whenever the
        // thread pool gets to the loop.
        var timer = _timer = new PeriodicTimer(_options.Interval, _time);
        _loops =
        [
            Task.Run(() => AnnounceLoopAsync(stopping)),
            Task.Run(() => TimerLoopAsync(timer, stopping)),
            Task.Run(() => ReceiveLoopAsync(stopping)),
        ];
    }

    /// <summary>Announces as soon as possible; calls made while one is pending coalesce into it.</summary>
    public void AnnounceNow() => _wake.Writer.TryWrite(true);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _transport.LocalAddressesChanged -= AnnounceNow;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _wake.Writer.TryComplete();
        await Task.WhenAll(_loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _timer?.Dispose();
        _transport.Dispose();
        _stopping.Dispose();
    }

    private async Task AnnounceLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var _ in _wake.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await AnnounceOnceAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task AnnounceOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            var announcement = DiscoveryPacket.Fit(_current());
            var packet = DiscoveryPacket.Encode(announcement, _key, _time.GetUtcNow().ToUnixTimeMilliseconds());
            await _transport.SendAsync(packet, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _sent);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            _logger.LogDebug("Discovery: announcing failed: {Error}", e.Message);
        }
    }

    private async Task TimerLoopAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                AnnounceNow();
                RemoveExpired();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        // One byte more than a packet may have, so an oversized datagram shows as one.
        var buffer = new byte[DiscoveryPacket.MaxPacketSize + 1];
        while (!cancellationToken.IsCancellationRequested)
        {
            int length;
            IPEndPoint source;
            try
            {
                (length, source) = await _transport.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogDebug("Discovery: receiving failed: {Error}", e.Message);
                await Task.Delay(ErrorPause, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            try
            {
                Handle(buffer.AsSpan(0, Math.Min(length, buffer.Length)), source);
            }
            catch (Exception e)
            {
                _logger.LogDebug("Discovery: an announcement from {Source} was not handled: {Error}", source, e.Message);
            }
        }
    }

    private void Handle(ReadOnlySpan<byte> datagram, IPEndPoint source)
    {
        Interlocked.Increment(ref _received);
        if (datagram.Length > DiscoveryPacket.MaxPacketSize)
        {
            Drop(ref _oversized, source, "oversized");
            return;
        }

        var address = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        if (_isAllowedSource is not null && !_isAllowedSource(address))
        {
            Drop(ref _disallowed, source, "source not allowed");
            return;
        }

        // Per source first, so one flooding host spends its own budget and not everyone's.
        if (!SourceLimit(address).TryTake() || !_globalLimit.TryTake())
        {
            Drop(ref _rateLimited, source, "rate limited");
            return;
        }

        var now = _time.GetUtcNow();
        if (!DiscoveryPacket.TryDecode(datagram, _key, now.ToUnixTimeMilliseconds(), out var announcement, out var timestamp, out var error))
        {
            Drop(ref _invalid, source, error);
            return;
        }

        if (announcement!.Device == _self)
        {
            Interlocked.Increment(ref _own);
            return;
        }

        Record(announcement, timestamp, address, source, now);
    }

    private PacketRateLimiter SourceLimit(IPAddress address)
    {
        if (_sourceLimits.TryGetValue(address, out var limiter)) return limiter;
        if (_sourceLimits.Count >= MaxTrackedSources) _sourceLimits.Clear();
        limiter = new PacketRateLimiter(_options.PerSourceRate, _time);
        _sourceLimits.Add(address, limiter);
        return limiter;
    }

    private void Record(Announcement announcement, long timestamp, IPAddress sourceAddress, IPEndPoint source, DateTimeOffset now)
    {
        var addresses = Resolve(announcement.Addresses, sourceAddress);
        DiscoveredPeer? changed = null;
        var isNew = false;
        lock (_gate)
        {
            if (_peers.TryGetValue(announcement.Device, out var entry) && IsExpired(entry.LastHeard, now))
            {
                _peers.Remove(announcement.Device);
                entry = null;
            }

            if (entry is null)
            {
                if (_peers.Count >= _options.MaxPeers) RemoveExpiredLocked(now);
                if (_peers.Count >= _options.MaxPeers)
                {
                    Drop(ref _invalid, source, "peer table full");
                    return;
                }

                entry = new Entry(announcement.Name);
                _peers.Add(announcement.Device, entry);
                isNew = true;
            }
            else if (timestamp < entry.LastTimestamp)
            {
                // A replay of an older announcement must not bring back addresses the member has dropped. Equal
                // timestamps pass: one announcement arrives once per path (broadcast, subnet broadcast, multicast).
                // A member whose clock went back is heard again once its entry expires.
                Drop(ref _stale, source, "older than the last announcement");
                return;
            }

            entry.LastTimestamp = timestamp;
            entry.LastHeard = now;
            var renamed = entry.Name != announcement.Name;
            entry.Name = announcement.Name;
            var added = entry.Hear(addresses, now, _expiry);
            if (isNew || renamed || added) changed = entry.ToPeer(announcement.Device, now, _expiry);
        }

        if (changed is null)
        {
            Interlocked.Increment(ref _accepted);
            return;
        }

        _logger.LogDebug(
            "Discovery: heard {Name} ({Device}) at {Addresses}", changed.Name, changed.Device.ShortForm, string.Join(", ", changed.Addresses));
        if (isNew) AnnounceNow();
        try
        {
            Discovered?.Invoke(changed);
        }
        catch (Exception e)
        {
            _logger.LogDebug("Discovery: a handler for {Device} failed: {Error}", changed.Device.ShortForm, e.Message);
        }

        // Counted after the handlers ran, so an observer that sees the count also sees what it caused.
        Interlocked.Increment(ref _accepted);
    }

    /// <summary>
    /// Turns announced strings into endpoints, with "[::]:port" read as the packet's source and "0.0.0.0:port" as
    /// the source only when that is IPv4 (a node listening on IPv4 alone is not reachable at its IPv6 address).
    /// </summary>
    private static List<EndPoint> Resolve(IReadOnlyList<string> announced, IPAddress source)
    {
        var resolved = new List<EndPoint>(announced.Count);
        foreach (var text in announced)
        {
            if (!InviteCode.TryParseAddress(text, out var endPoint)) continue;
            if (endPoint is IPEndPoint ip)
            {
                if (ip.Address.Equals(IPAddress.IPv6Any)
                    || (ip.Address.Equals(IPAddress.Any) && source.AddressFamily == AddressFamily.InterNetwork))
                {
                    endPoint = new IPEndPoint(source, ip.Port);
                }
                else if (ip.Address.Equals(IPAddress.Any))
                {
                    continue;
                }
            }

            if (!resolved.Contains(endPoint)) resolved.Add(endPoint);
        }

        return resolved;
    }

    private void RemoveExpired()
    {
        var now = _time.GetUtcNow();
        lock (_gate) RemoveExpiredLocked(now);
    }

    private void RemoveExpiredLocked(DateTimeOffset now)
    {
        foreach (var (device, entry) in _peers.ToList())
        {
            if (IsExpired(entry.LastHeard, now)) _peers.Remove(device);
        }
    }

    private bool IsExpired(DateTimeOffset lastHeard, DateTimeOffset now) => now - lastHeard >= _expiry;

    private void Drop(ref long counter, IPEndPoint source, string reason)
    {
        Interlocked.Increment(ref counter);
        _logger.LogDebug("Discovery: ignored a datagram from {Source}: {Reason}", source, reason);
    }

    private sealed class Entry(string name)
    {
        private readonly List<(EndPoint Address, DateTimeOffset LastHeard)> _addresses = [];

        public string Name { get; set; } = name;

        public DateTimeOffset LastHeard { get; set; }

        public long LastTimestamp { get; set; } = long.MinValue;

        /// <summary>Refreshes the addresses just heard and forgets expired ones; true if one of them is new.</summary>
        public bool Hear(List<EndPoint> addresses, DateTimeOffset now, TimeSpan expiry)
        {
            _addresses.RemoveAll(a => now - a.LastHeard >= expiry);
            var added = false;
            foreach (var address in addresses)
            {
                var index = _addresses.FindIndex(a => a.Address.Equals(address));
                if (index >= 0)
                {
                    _addresses[index] = (address, now);
                }
                else
                {
                    _addresses.Add((address, now));
                    added = true;
                }
            }

            return added;
        }

        public DiscoveredPeer ToPeer(DeviceId device, DateTimeOffset now, TimeSpan expiry) =>
            new(device, Name, [.. _addresses.Where(a => now - a.LastHeard < expiry).Select(a => a.Address)], LastHeard);
    }
}
