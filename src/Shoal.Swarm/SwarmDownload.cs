using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Shoal.Core;

namespace Shoal.Swarm;

/// <summary>
/// Fetches one file's chunks from every peer that holds them. Requests follow <see cref="PiecePicker"/>; each peer
/// gets a window of requests sized from its measured rate, so faster peers serve more. Every chunk is verified
/// against the manifest before it reaches the sink; bad data is discarded and fetched elsewhere.
/// </summary>
/// <remarks>
/// Peers can be added, updated and removed from any thread at any time. <see cref="RunAsync"/> relies on peers
/// honouring cancellation, as <see cref="ISwarmPeer"/> requires: it returns only once every request has ended.
/// </remarks>
public sealed class SwarmDownload
{
    // Weight of the newest sample in a peer's rate: smooths one lucky or unlucky chunk, yet follows a real change
    // within a handful of chunks.
    private const double RateSmoothing = 0.25;

    private readonly Manifest _manifest;
    private readonly IChunkSink _sink;
    private readonly SwarmOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _label;
    private readonly Lock _lock = new();
    private readonly PiecePicker _picker;
    private readonly Dictionary<DeviceId, PeerState> _peers = [];
    private readonly Dictionary<DeviceId, PeerStats> _stats = [];
    private readonly HashSet<Request> _active = [];
    private readonly HashSet<int> _committing = [];

    // Chunks a peer answered "busy" for, in the order their BusyRetry ends (it is the same for all).
    private readonly Queue<(long Due, DeviceId Peer, int Index)> _deferrals = new();
    private readonly RateMeter _received;
    private readonly long _minWindowBytes;
    private readonly int _maxChunkLength;

    // Holds at most one pending wake-up: any number of events while the scheduler is busy cost one more pass.
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private long _reservedBytes;
    private long _verifiedBytes;
    private long _bytesReceived;
    private int _rotation;
    private bool _started;
    private bool _stopping;
    private ExceptionDispatchInfo? _failure;
    private CancellationToken _runToken;

    public SwarmDownload(Manifest manifest, IChunkSink sink, SwarmOptions options, TimeProvider time, Random random, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(random);
        options.Validate();
        if (manifest.MaxChunkLength > options.MaxInFlightBytes)
        {
            throw new ArgumentException(
                $"MaxInFlightBytes ({options.MaxInFlightBytes}) cannot hold the largest chunk ({manifest.MaxChunkLength} bytes).", nameof(options));
        }

        var verified = sink.Verified;
        if (verified.Length != manifest.ChunkCount)
        {
            throw new ArgumentException($"The sink tracks {verified.Length} chunks; the manifest has {manifest.ChunkCount}.", nameof(sink));
        }

        _manifest = manifest;
        _sink = sink;
        _options = options;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _label = manifest.Id.ShortForm;
        _picker = new PiecePicker(manifest.ChunkCount, verified, random);
        foreach (var index in verified.SetIndices())
        {
            _verifiedBytes += manifest[index].Length;
        }

        _maxChunkLength = manifest.MaxChunkLength;
        var averageChunk = manifest.ChunkCount == 0 ? 0 : manifest.Size / manifest.ChunkCount;
        _minWindowBytes = Math.Min(averageChunk * options.MinWindowChunks, options.MaxWindowBytes);
        _received = new RateMeter(time, options.RateWindow, time.GetTimestamp());
    }

    /// <summary>Raised as each request is issued, in issue order, on the scheduling thread.</summary>
    public event Action<DeviceId, int>? ChunkRequested;

    /// <summary>Raised once per chunk after it is verified and written.</summary>
    public event Action<int>? ChunkVerified;

    public FileId FileId => _manifest.Id;

    /// <summary>Registers a peer, or a new connection to it, or a fresh statement of what it holds.</summary>
    public void AddOrUpdatePeer(ISwarmPeer peer, Bitfield have)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(have);
        if (have.Length != _manifest.ChunkCount)
        {
            throw new ArgumentException($"The bitfield covers {have.Length} chunks; the manifest has {_manifest.ChunkCount}.", nameof(have));
        }

        var id = peer.Id;
        var name = peer.Name;
        lock (_lock)
        {
            if (!_stats.TryGetValue(id, out var stats))
            {
                stats = new PeerStats(id, new RateMeter(_time, _options.RateWindow, _time.GetTimestamp()));
                _stats.Add(id, stats);
            }

            stats.Name = name;
            if (_peers.TryGetValue(id, out var state))
            {
                state.Handle = peer;
            }
            else
            {
                _peers.Add(id, new PeerState(id, peer, stats));
            }

            _picker.AddPeer(id, have);
        }

        SwarmLog.PeerUpdated(_logger, _label, id.ShortForm, name, have.SetCount);
        Wake();
    }

    /// <summary>Fetches the chunks from <paramref name="from"/> on first, in order (see <see cref="PiecePicker.Prioritise"/>).</summary>
    public void Prioritise(int from, int count)
    {
        lock (_lock)
        {
            _picker.Prioritise(from, count);
        }

        Wake();
    }

    /// <summary>The peer announced a chunk it acquired. Ignored for peers not added.</summary>
    public void PeerHas(DeviceId peer, int index)
    {
        lock (_lock)
        {
            _picker.PeerHas(peer, index);
        }

        Wake();
    }

    /// <summary>Forgets the peer, cancels its outstanding requests and requeues their chunks.</summary>
    public void RemovePeer(DeviceId peer)
    {
        List<Request> cancel;
        lock (_lock)
        {
            if (!_peers.TryGetValue(peer, out var state)) return;
            cancel = DetachLocked(state);
        }

        SwarmLog.PeerRemoved(_logger, _label, peer.ShortForm, cancel.Count);
        CancelAll(cancel);
        Wake();
    }

    /// <summary>
    /// Runs until every chunk is verified and written; with no (useful) peers it waits for some. Cancelling stops
    /// it and cancels outstanding requests. May be called once.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_started) throw new InvalidOperationException("A swarm download runs only once.");
            _started = true;
            _runToken = cancellationToken;
        }

        try
        {
            while (true)
            {
                List<Request> issued;
                long? nextResume;
                lock (_lock)
                {
                    _failure?.Throw();
                    if (_picker.IsComplete) break;
                    ResumeDueLocked();
                    issued = ScheduleLocked();
                    nextResume = _deferrals.Count > 0 ? _deferrals.Peek().Due : null;
                }

                foreach (var request in issued)
                {
                    _ = ExecuteAsync(request);
                }

                if (nextResume is { } due)
                {
                    await WaitForWakeAsync(due, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await _wake.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await StopAsync().ConfigureAwait(false);
        }

        SwarmLog.Completed(_logger, _label, _manifest.ChunkCount);
    }

    public DownloadProgress Snapshot()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            var peers = new List<PeerProgress>(_stats.Count);
            var activeSources = 0;
            foreach (var stats in _stats.Values)
            {
                var connected = _peers.TryGetValue(stats.Id, out var state);
                if (!connected && stats.BytesReceived == 0) continue;
                peers.Add(new PeerProgress(stats.Id, stats.Name, connected, stats.BytesReceived, stats.Meter.BytesPerSecond(now)));
                var deliveredRecently = stats.LastDelivery is { } last && _time.GetElapsedTime(last, now) <= _options.ActiveSourceWindow;
                if (deliveredRecently || state?.WindowBytes > 0) activeSources++;
            }

            return new DownloadProgress(
                _manifest.Size,
                _verifiedBytes,
                _picker.DoneCount,
                _manifest.ChunkCount,
                _bytesReceived,
                _received.BytesPerSecond(now),
                activeSources,
                peers);
        }
    }

    /// <summary>Waits for a wake-up or until <paramref name="due"/>, whichever comes first.</summary>
    private async Task WaitForWakeAsync(long due, CancellationToken cancellationToken)
    {
        var delay = _time.GetElapsedTime(_time.GetTimestamp(), due);
        if (delay <= TimeSpan.Zero) return;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Waiting to read consumes nothing, so the wait left behind when the timer wins loses no wake-up.
        var woken = _wake.Reader.WaitToReadAsync(stop.Token).AsTask();
        var timer = Task.Delay(delay, _time, stop.Token);
        await Task.WhenAny(woken, timer).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        _wake.Reader.TryRead(out _);
    }

    private void ResumeDueLocked()
    {
        var now = _time.GetTimestamp();
        while (_deferrals.TryPeek(out var deferral) && deferral.Due <= now)
        {
            _deferrals.Dequeue();
            _picker.Resume(deferral.Peer, deferral.Index);
        }
    }

    private List<Request> ScheduleLocked()
    {
        var issued = new List<Request>();
        if (_peers.Count == 0) return issued;

        // Rotating the first peer keeps the in-flight cap from always favouring the same peers.
        var shift = _rotation % _peers.Count;
        _rotation = shift + 1;
        List<PeerState> candidates = [.. _peers.Values.Skip(shift), .. _peers.Values.Take(shift)];
        var now = _time.GetTimestamp();

        // One request per peer per round, so peers fill their windows side by side rather than one after another.
        while (candidates.Count > 0)
        {
            for (var i = 0; i < candidates.Count;)
            {
                // The next chunk's size is only known after picking, so leave room for the largest.
                if (_reservedBytes + _maxChunkLength > _options.MaxInFlightBytes) return issued;
                var peer = candidates[i];
                if (peer.WindowBytes >= WindowBytes(peer) || !_picker.TryPick(peer.Id, out var index))
                {
                    candidates.RemoveAt(i);
                    continue;
                }

                var request = new Request(peer, peer.Handle, index, _manifest[index].Length, now);
                peer.Requests.Add(index, request);
                peer.WindowBytes += request.Length;
                _reservedBytes += request.Length;
                _active.Add(request);
                issued.Add(request);
                i++;
            }
        }

        return issued;
    }

    private long WindowBytes(PeerState peer)
    {
        var byRate = (long)Math.Min(peer.Rate * _options.TargetQueueTime.TotalSeconds, _options.MaxWindowBytes);
        return Math.Clamp(byRate, _minWindowBytes, _options.MaxWindowBytes);
    }

    private async Task ExecuteAsync(Request request)
    {
        try
        {
            ChunkRequested?.Invoke(request.Peer.Id, request.Index);
            IChunkBuffer buffer;
            try
            {
                buffer = await request.Handle
                    .RequestChunkAsync(_manifest.Id, request.Index, request.Length, request.Token)
                    .ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                OnRequestFailed(request, ex);
                return;
            }

            using (buffer)
            {
                await ProcessAsync(request, buffer.Memory).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_runToken.IsCancellationRequested)
        {
            // The run is being cancelled; there is nothing left to report.
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
        finally
        {
            lock (_lock)
            {
                StopAwaitingLocked(request);

                // While another response for the chunk is being written, this request stays outstanding for the
                // picker until that write settles it; failing it now would invite the same peer to be asked again.
                if (!request.Settled && !_committing.Contains(request.Index))
                {
                    SettleLocked(request);
                    _picker.MarkFailed(request.Peer.Id, request.Index);
                }

                _active.Remove(request);
                _reservedBytes -= request.Length;
            }

            request.Release();
            Wake();
        }
    }

    private void OnRequestFailed(Request request, Exception exception)
    {
        if (exception is OperationCanceledException && request.Token.IsCancellationRequested) return;

        if (exception is ChunkBusyException)
        {
            SettleAnsweredWithoutData(request, () =>
            {
                _picker.Defer(request.Peer.Id, request.Index);
                var due = _time.GetTimestamp() + (long)(_options.BusyRetry.TotalSeconds * _time.TimestampFrequency);
                _deferrals.Enqueue((due, request.Peer.Id, request.Index));
            });
            SwarmLog.ChunkBusy(_logger, _label, request.Peer.Id.ShortForm, request.Index);
            return;
        }

        if (exception is ChunkUnavailableException)
        {
            SettleAnsweredWithoutData(request, () => _picker.PeerLacks(request.Peer.Id, request.Index));
            SwarmLog.ChunkUnavailable(_logger, _label, request.Peer.Id.ShortForm, request.Index);
            return;
        }

        List<Request>? cancel = null;
        lock (_lock)
        {
            StopAwaitingLocked(request);

            // Only the connection that failed is dropped; a newer connection to the same peer is left alone.
            if (_peers.TryGetValue(request.Peer.Id, out var current) && current == request.Peer && current.Handle == request.Handle)
            {
                cancel = DetachLocked(current);
            }
        }

        SwarmLog.PeerFailed(_logger, exception, _label, request.Peer.Id.ShortForm, request.Index);
        if (cancel is not null)
        {
            SwarmLog.PeerRemoved(_logger, _label, request.Peer.Id.ShortForm, cancel.Count);
            CancelAll(cancel);
        }
    }

    /// <summary>
    /// Ends a request the peer answered with a refusal, not data; <paramref name="record"/> notes what the refusal says,
    /// under the lock, unless something settled the request first.
    /// </summary>
    private void SettleAnsweredWithoutData(Request request, Action record)
    {
        lock (_lock)
        {
            StopAwaitingLocked(request);
            if (request.Settled) return;
            SettleLocked(request);
            record();
        }
    }

    private async Task ProcessAsync(Request request, ReadOnlyMemory<byte> data)
    {
        var chunk = _manifest[request.Index];
        bool wanted;
        lock (_lock)
        {
            StopAwaitingLocked(request);
            RecordArrivalLocked(request, data.Length);
            wanted = !_stopping && !_picker.IsDone(request.Index) && !_committing.Contains(request.Index);
        }

        Wake();
        if (!wanted) return;

        // Hashing takes milliseconds per chunk, and the peer may have completed the request on its network reader.
        var intact = data.Length == chunk.Length
            && await Task.Run(() => Hash256.Compute(data.Span) == chunk.Hash).ConfigureAwait(false);
        if (!intact)
        {
            lock (_lock)
            {
                if (!request.Settled) SettleLocked(request);
                _picker.Exclude(request.Peer.Id, request.Index);
            }

            SwarmLog.BadData(_logger, _label, request.Index, request.Peer.Id.ShortForm);
            request.Handle.ReportBadData(_manifest.Id, request.Index);
            return;
        }

        lock (_lock)
        {
            // A duplicate may have verified first; the sink gets each chunk once.
            if (_stopping || _picker.IsDone(request.Index) || !_committing.Add(request.Index)) return;
        }

        await _sink.WriteVerifiedChunkAsync(request.Index, data, _runToken).ConfigureAwait(false);

        var losers = new List<Request>();
        lock (_lock)
        {
            _committing.Remove(request.Index);
            var others = _picker.MarkReceived(request.Peer.Id, request.Index);
            if (!request.Settled) SettleLocked(request);
            _verifiedBytes += chunk.Length;
            foreach (var other in others)
            {
                CollectLoserLocked(other, request.Index, losers);
            }

            // If this response came over a connection since replaced, the new connection may have the chunk out too.
            CollectLoserLocked(request.Peer.Id, request.Index, losers);
        }

        CancelAll(losers);
        ChunkVerified?.Invoke(request.Index);
    }

    private void RecordArrivalLocked(Request request, int bytes)
    {
        var now = _time.GetTimestamp();
        var peer = request.Peer;

        // Requests are pipelined, so time spent queued behind the previous response is not this one's transfer time.
        var busySince = Math.Max(peer.LastArrival, request.StartTimestamp);
        var seconds = _time.GetElapsedTime(busySince, now).TotalSeconds;
        if (seconds > 0)
        {
            var sample = bytes / seconds;
            peer.Rate = peer.Rate > 0 ? peer.Rate + (RateSmoothing * (sample - peer.Rate)) : sample;
        }

        peer.LastArrival = now;
        peer.Stats.BytesReceived += bytes;
        peer.Stats.LastDelivery = now;
        peer.Stats.Meter.Add(now, bytes);
        _bytesReceived += bytes;
        _received.Add(now, bytes);
    }

    private void CollectLoserLocked(DeviceId peer, int index, List<Request> losers)
    {
        if (!_peers.TryGetValue(peer, out var state) || !state.Requests.TryGetValue(index, out var loser)) return;
        SettleLocked(loser);
        if (StopAwaitingLocked(loser))
        {
            loser.Hold();
            losers.Add(loser);
        }
    }

    /// <summary>Unregisters the peer; returns its requests still awaiting a response, held for cancelling.</summary>
    private List<Request> DetachLocked(PeerState peer)
    {
        _peers.Remove(peer.Id);
        _picker.RemovePeer(peer.Id);
        var cancel = new List<Request>();
        foreach (var request in peer.Requests.Values)
        {
            request.Settled = true;
            if (StopAwaitingLocked(request))
            {
                request.Hold();
                cancel.Add(request);
            }
        }

        peer.Requests.Clear();
        return cancel;
    }

    /// <summary>The picker no longer counts this request as outstanding.</summary>
    private static void SettleLocked(Request request)
    {
        request.Settled = true;
        request.Peer.Requests.Remove(request.Index);
    }

    private static bool StopAwaitingLocked(Request request)
    {
        if (!request.AwaitingResponse) return false;
        request.AwaitingResponse = false;
        request.Peer.WindowBytes -= request.Length;
        return true;
    }

    private static void CancelAll(List<Request> requests)
    {
        foreach (var request in requests)
        {
            request.CancelAndRelease();
        }
    }

    private async Task StopAsync()
    {
        List<Request> cancel;
        lock (_lock)
        {
            _stopping = true;
            cancel = [.. _active];
            foreach (var request in cancel)
            {
                request.Hold();
            }
        }

        CancelAll(cancel);

        // Every finished request wakes the channel, so this ends once the last buffer has been disposed.
        while (true)
        {
            lock (_lock)
            {
                if (_active.Count == 0) return;
            }

            await _wake.Reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private void Fail(Exception exception)
    {
        lock (_lock)
        {
            _failure ??= ExceptionDispatchInfo.Capture(exception);
        }

        SwarmLog.Failed(_logger, exception, _label);
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private sealed class PeerStats(DeviceId id, RateMeter meter)
    {
        public DeviceId Id { get; } = id;

        public string Name { get; set; } = "";

        public RateMeter Meter { get; } = meter;

        public long BytesReceived { get; set; }

        public long? LastDelivery { get; set; }
    }

    /// <summary>One connection to a peer. Mutable state is guarded by the download's lock.</summary>
    private sealed class PeerState(DeviceId id, ISwarmPeer handle, PeerStats stats)
    {
        public DeviceId Id { get; } = id;

        public ISwarmPeer Handle { get; set; } = handle;

        public PeerStats Stats { get; } = stats;

        /// <summary>
        /// Exactly the chunks the picker counts as outstanding from this peer. Usually active requests; a finished
        /// one stays here while a duplicate's data for the same chunk is being written.
        /// </summary>
        public Dictionary<int, Request> Requests { get; } = [];

        /// <summary>Bytes requested and not yet answered: what the rate-sized window limits.</summary>
        public long WindowBytes { get; set; }

        /// <summary>Smoothed bytes per second; zero until the first measurement.</summary>
        public double Rate { get; set; }

        public long LastArrival { get; set; } = long.MinValue;
    }

    /// <summary>
    /// One chunk request. Its token source is cancelled from other threads, outside the lock, so it is disposed only
    /// when both the request task and every canceller that took a hold (under the lock, while the request was
    /// active) have let go.
    /// </summary>
    private sealed class Request
    {
        private readonly CancellationTokenSource _cts = new();
        private int _holds = 1;

        public Request(PeerState peer, ISwarmPeer handle, int index, int length, long startTimestamp)
        {
            Peer = peer;
            Handle = handle;
            Index = index;
            Length = length;
            StartTimestamp = startTimestamp;
            Token = _cts.Token;
        }

        public PeerState Peer { get; }

        public ISwarmPeer Handle { get; }

        public int Index { get; }

        public int Length { get; }

        public long StartTimestamp { get; }

        public CancellationToken Token { get; }

        public bool AwaitingResponse { get; set; } = true;

        /// <summary>The picker's record of this request has been resolved (received, failed, lacked or peer removed).</summary>
        public bool Settled { get; set; }

        public void Hold() => Interlocked.Increment(ref _holds);

        public void Release()
        {
            if (Interlocked.Decrement(ref _holds) == 0) _cts.Dispose();
        }

        public void CancelAndRelease()
        {
            try
            {
                _cts.Cancel();
            }
            finally
            {
                Release();
            }
        }
    }
}
