using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Shoal.Core;
using Shoal.Protocol;

namespace Shoal.Net.Connections;

/// <summary>How a link reaches the peer: a plain dial or accept, a hole punched through both NATs, or a relay.</summary>
public enum LinkKind
{
    Direct,
    Punched,
    Relayed,
}

/// <summary>What a node says about itself in its hello.</summary>
public sealed record LocalHello(DeviceId DeviceId, NetworkMembership Membership, string Name, ushort ListenPort);

/// <summary>
/// One authenticated peer link over a TLS stream: framed messages, pipelined requests with ids, a bounded send
/// queue and a bounded queue of the peer's requests. Nothing of the node's content is sent before both sides
/// have proven membership.
/// </summary>
public sealed class PeerConnection : IAsyncDisposable
{
    public const ushort ProtocolVersion = 1;

    /// <summary>How many requests a peer may have queued with us; more is a protocol violation.</summary>
    public const int MaxPeerRequests = 64;

    /// <summary>Of those, how many may carry a chunk to store (each up to 4 MiB, held until it is written).</summary>
    public const int MaxPeerStores = 8;

    private const int MaxControlFrames = 4096;
    private const int QueuedChunkFrames = 3;
    private const int ConcurrentServes = 4;
    private const int QueuedIndexUpdates = 4;
    private const int CoalesceLimit = 64 * 1024;

    /// <summary>Frames up to this size are gathered with others into one write; a small file's chunk is one of them.</summary>
    private const int SmallFrameLimit = 8 * 1024;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(15);

    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly IPeerServices _services;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<OutgoingFrame> _outgoing =
        Channel.CreateBounded<OutgoingFrame>(new BoundedChannelOptions(MaxControlFrames) { SingleReader = true });
    private readonly Channel<Message> _peerRequests =
        Channel.CreateBounded<Message>(new BoundedChannelOptions(MaxPeerRequests) { SingleReader = true, SingleWriter = true });
    private readonly Channel<IndexUpdate> _indexUpdates =
        Channel.CreateBounded<IndexUpdate>(new BoundedChannelOptions(QueuedIndexUpdates) { SingleReader = true, SingleWriter = true });
    private readonly SemaphoreSlim _chunkFrameSlots = new(QueuedChunkFrames);
    private readonly SemaphoreSlim _serveSlots = new(ConcurrentServes);
    private readonly SemaphoreSlim _ourRequestSlots = new(MaxPeerRequests);
    private readonly SemaphoreSlim _ourStoreSlots = new(MaxPeerStores);
    private int _queuedStores;
    private readonly ConcurrentDictionary<uint, PendingRequest> _pending = new();
    private readonly ConcurrentDictionary<uint, byte> _cancelledByPeer = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private uint _nextRequestId;
    private long _lastReceivedTimestamp;
    private long _pingSentTimestamp;
    private Task _loops = Task.CompletedTask;
    private int _closing;
    private long _chunkBytesSent;
    private long _chunkBytesReceived;

    private PeerConnection(Stream stream, IPeerServices services, ILogger logger, TimeProvider time, bool isClient, DeviceId remoteId, EndPoint? remoteEndPoint, LinkKind kind)
    {
        Kind = kind;
        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 256 * 1024, minimumReadSize: 64 * 1024, leaveOpen: true));
        _services = services;
        _logger = logger;
        _time = time;
        IsClient = isClient;
        RemoteId = remoteId;
        RemoteEndPoint = remoteEndPoint;
        _lastReceivedTimestamp = time.GetTimestamp();
    }

    public DeviceId RemoteId { get; }

    public string RemoteName { get; private set; } = "";

    public ushort RemoteListenPort { get; private set; }

    /// <summary>This node's address as the peer sees it (its hello says so): behind a NAT, the public one; null on a relayed link.</summary>
    public string? SeenAs { get; private set; }

    public EndPoint? RemoteEndPoint { get; }

    /// <summary>True when this side dialled (was the TLS client).</summary>
    public bool IsClient { get; }

    public LinkKind Kind { get; }

    public long ChunkBytesSent => Interlocked.Read(ref _chunkBytesSent);

    public long ChunkBytesReceived => Interlocked.Read(ref _chunkBytesReceived);

    public TimeSpan? RoundTripTime { get; private set; }

    public Task<string> Closed => _closed.Task;

    /// <summary>Set before <see cref="Start"/>.</summary>
    public KeepAlive KeepAlive { get; set; } = KeepAlive.Default;

    public bool IsOpen => !_closed.Task.IsCompleted;

    /// <summary>
    /// Runs the hello and membership exchange on an authenticated TLS stream. Throws <see cref="HandshakeException"/>
    /// when either side refuses; the refusal is sent to the peer as a close frame with its reason first.
    /// </summary>
    public static async Task<PeerConnection> EstablishAsync(
        Stream tls, bool isClient, DeviceId remoteId, EndPoint? remoteEndPoint, LinkKind kind, LocalHello local,
        IPeerServices services, ILogger logger, TimeProvider time, CancellationToken cancellationToken)
    {
        var connection = new PeerConnection(tls, services, logger, time, isClient, remoteId, remoteEndPoint, kind);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(HandshakeTimeout);
            await connection.HandshakeAsync(local, timeout.Token).ConfigureAwait(false);
            return connection;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await connection.AbortAsync().ConfigureAwait(false);
            throw new HandshakeException(CloseReason.Timeout, "the peer did not finish the handshake in time");
        }
        catch
        {
            await connection.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task HandshakeAsync(LocalHello local, CancellationToken cancellationToken)
    {
        if (local.DeviceId == RemoteId) await RefuseAsync(CloseReason.Duplicate, "connected to itself", cancellationToken).ConfigureAwait(false);

        var nonce = RandomNumberGenerator.GetBytes(Hello.NonceSize);
        var observed = RemoteEndPoint is IPEndPoint seen ? Endpoints.Format(seen) : "";
        await WriteDirectAsync(new Hello(ProtocolVersion, local.Membership.Network, nonce, local.Name, local.ListenPort, observed), cancellationToken).ConfigureAwait(false);

        if (await ReadHandshakeFrameAsync(cancellationToken).ConfigureAwait(false) is not Hello hello)
        {
            await RefuseAsync(CloseReason.ProtocolError, "expected a hello", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (hello.ProtocolVersion != ProtocolVersion)
        {
            await RefuseAsync(CloseReason.IncompatibleVersion, $"protocol version {hello.ProtocolVersion} is not supported (this node speaks {ProtocolVersion})", cancellationToken).ConfigureAwait(false);
        }

        if (hello.Network != local.Membership.Network)
        {
            await RefuseAsync(CloseReason.NotAMember, "not a member of this network", cancellationToken).ConfigureAwait(false);
        }

        RemoteName = hello.Name;
        RemoteListenPort = hello.ListenPort;
        SeenAs = hello.ObservedAddress.Length > 0 ? hello.ObservedAddress : null;

        var (clientNonce, serverNonce) = IsClient ? (nonce, hello.Nonce) : (hello.Nonce, nonce);
        var (clientId, serverId) = IsClient ? (local.DeviceId, RemoteId) : (RemoteId, local.DeviceId);

        // The dialler proves membership first; the listener answers only a valid proof with its own, so a stranger
        // who connects learns nothing but our hello and the refusal.
        if (IsClient)
        {
            await SendProofAsync(local, clientNonce, serverNonce, clientId, serverId, cancellationToken).ConfigureAwait(false);
            await ReceiveProofAsync(local, clientNonce, serverNonce, clientId, serverId, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await ReceiveProofAsync(local, clientNonce, serverNonce, clientId, serverId, cancellationToken).ConfigureAwait(false);
            await SendProofAsync(local, clientNonce, serverNonce, clientId, serverId, cancellationToken).ConfigureAwait(false);
        }
    }

    private Task SendProofAsync(LocalHello local, byte[] clientNonce, byte[] serverNonce, DeviceId clientId, DeviceId serverId, CancellationToken cancellationToken) =>
        WriteDirectAsync(new Auth(local.Membership.ComputeProof(IsClient, clientNonce, serverNonce, clientId, serverId)), cancellationToken);

    private async Task ReceiveProofAsync(LocalHello local, byte[] clientNonce, byte[] serverNonce, DeviceId clientId, DeviceId serverId, CancellationToken cancellationToken)
    {
        if (await ReadHandshakeFrameAsync(cancellationToken).ConfigureAwait(false) is not Auth auth)
        {
            await RefuseAsync(CloseReason.ProtocolError, "expected a membership proof", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!local.Membership.VerifyProof(!IsClient, clientNonce, serverNonce, clientId, serverId, auth.Proof))
        {
            await RefuseAsync(CloseReason.NotAMember, "membership proof rejected: not a member of this network", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends the reason to the peer, then fails the handshake with it.</summary>
    public async Task RefuseAsync(CloseReason reason, string text, CancellationToken cancellationToken)
    {
        try
        {
            await WriteDirectAsync(new Close(reason, text), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The refusal is a courtesy; the peer may already be gone.
        }

        throw new HandshakeException(reason, text);
    }

    private async Task WriteDirectAsync(Message message, CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(FrameCodec.Encode(message), cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<Message> ReadHandshakeFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = FrameCodec.TryReadHeader(buffer, out var type, out var bodyLength, out var error);
            if (status == FrameStatus.Ok && type == MessageType.ChunkResponse)
            {
                status = FrameStatus.Invalid;
                error = "chunk data before the handshake finished";
            }

            if (status == FrameStatus.Ok)
            {
                status = FrameCodec.TryReadFrame(ref buffer, out var message, out error);
                if (status == FrameStatus.Ok)
                {
                    _reader.AdvanceTo(buffer.Start);
                    if (message is Close close)
                    {
                        throw new HandshakeException(close.Reason, $"refused by the peer: {close.Text}") { RetryAfter = TimeSpan.FromSeconds(close.RetryAfterSeconds) };
                    }

                    return message!;
                }
            }

            if (status == FrameStatus.Invalid)
            {
                throw new HandshakeException(CloseReason.ProtocolError, $"malformed handshake frame: {error}");
            }

            if (result.IsCompleted)
            {
                throw new HandshakeException(CloseReason.ProtocolError, "the peer closed the connection during the handshake");
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Starts the read, write and serve loops. Call once, after <see cref="EstablishAsync"/>.</summary>
    public void Start()
    {
        _loops = Task.WhenAll(
            Task.Run(ReadLoopAsync),
            Task.Run(WriteLoopAsync),
            Task.Run(ServeLoopAsync),
            Task.Run(IndexLoopAsync),
            Task.Run(KeepAliveLoopAsync));
    }

    /// <summary>Queues a small message. A peer that lets thousands pile up is not reading: it is dropped.</summary>
    public void Send(Message message)
    {
        if (!IsOpen) return;
        var frame = Encode(message);
        if (!_outgoing.Writer.TryWrite(frame))
        {
            ArrayPool<byte>.Shared.Return(frame.Buffer);
            Close(CloseReason.Timeout, "the peer is not reading (send queue full)");
        }
    }

    /// <summary>A message as a frame in a pooled buffer, ready for the write loop (which returns the buffer).</summary>
    private static OutgoingFrame Encode(Message message)
    {
        var writer = new ArrayBufferWriter<byte>(256);
        FrameCodec.Write(message, writer);
        var bytes = ArrayPool<byte>.Shared.Rent(writer.WrittenCount);
        writer.WrittenSpan.CopyTo(bytes);
        return new OutgoingFrame(bytes, writer.WrittenCount, IsChunk: false);
    }

    /// <summary>Queues a message, waiting while the send queue is full: for senders of long streams such as an index.</summary>
    public async ValueTask SendAsync(Message message, CancellationToken cancellationToken)
    {
        if (!IsOpen) return;
        var frame = Encode(message);
        try
        {
            await _outgoing.Writer.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
        {
            ArrayPool<byte>.Shared.Return(frame.Buffer);
            if (e is OperationCanceledException) throw;
        }
    }

    public async Task<ReceivedChunk> RequestChunkAsync(FileId file, int chunkIndex, CancellationToken cancellationToken)
    {
        var response = await RequestAsync(id => new ChunkRequest(id, file, chunkIndex), cancellationToken).ConfigureAwait(false);
        return (ReceivedChunk)response;
    }

    /// <summary>Asks the peer to keep a chunk of a put file; the answer says whether it did.</summary>
    public async Task<StoreOutcome> StoreChunkAsync(FileId file, int chunkIndex, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _ourStoreSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var response = await RequestAsync(id => new StoreChunk(id, file, chunkIndex, data), cancellationToken).ConfigureAwait(false);
            return ((StoreResult)response).Outcome;
        }
        finally
        {
            _ourStoreSlots.Release();
        }
    }

    /// <summary>Fetches a whole manifest (page by page) and checks it against the id before trusting it.</summary>
    public async Task<Manifest> RequestManifestAsync(FileId file, CancellationToken cancellationToken)
    {
        var entries = new List<(int Length, Hash256 Hash)>();
        long size = -1;
        var total = 0;
        do
        {
            var first = entries.Count;
            var page = (ManifestResponse)await RequestAsync(id => new ManifestRequest(id, file, first), cancellationToken).ConfigureAwait(false);
            if (page.FirstChunk != first || (size >= 0 && (page.FileSize != size || page.TotalChunks != total)) || (page.Entries.Count == 0 && page.TotalChunks > first))
            {
                throw new PeerErrorException(ErrorCode.Internal, "the peer sent an inconsistent manifest page");
            }

            size = page.FileSize;
            total = page.TotalChunks;
            entries.AddRange(page.Entries);
        }
        while (entries.Count < total);

        var manifest = Manifest.FromLengthsAndHashes(entries);
        if (manifest.Id != file || manifest.Size != size)
        {
            throw new PeerErrorException(ErrorCode.Internal, "the peer sent a manifest that does not match the file id");
        }

        return manifest;
    }

    private async Task<object> RequestAsync(Func<uint, Message> build, CancellationToken cancellationToken)
    {
        await _ourRequestSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        var id = Interlocked.Increment(ref _nextRequestId);
        var pending = new PendingRequest();
        _pending[id] = pending;
        try
        {
            if (!IsOpen) throw new ConnectionClosedException($"connection to {RemoteName} is closed");
            Send(build(id));
            using var registration = cancellationToken.Register(static state => ((PendingRequest)state!).Completion.TrySetCanceled(), pending);
            return await pending.Completion.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (IsOpen) Send(new Cancel(id));
            throw;
        }
        finally
        {
            _pending.TryRemove(id, out _);
            _ourRequestSlots.Release();
        }
    }

    public void Close(CloseReason reason, string text)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0) return;
        _logger.LogInformation("Closing connection to {Peer} ({Device}): {Reason} {Text}", RemoteName, RemoteId.ShortForm, reason, text);
        var writer = new ArrayBufferWriter<byte>(64);
        FrameCodec.Write(new Close(reason, text), writer);
        var bytes = ArrayPool<byte>.Shared.Rent(writer.WrittenCount);
        writer.WrittenSpan.CopyTo(bytes);
        if (!_outgoing.Writer.TryWrite(new OutgoingFrame(bytes, writer.WrittenCount, IsChunk: false, IsFinal: true)))
        {
            ArrayPool<byte>.Shared.Return(bytes);
            Terminate($"{reason}: {text}");
        }
        else
        {
            // Give the close frame a moment to leave, but never wait on a peer that is not reading.
            _ = Task.Delay(TimeSpan.FromSeconds(2), _time).ContinueWith(_ => Terminate($"{reason}: {text}"), TaskScheduler.Default);
        }
    }

    private void Terminate(string reason)
    {
        if (!_closed.TrySetResult(reason)) return;
        _lifetime.Cancel();
        _outgoing.Writer.TryComplete();
        _peerRequests.Writer.TryComplete();
        _indexUpdates.Writer.TryComplete();
        foreach (var (_, pending) in _pending)
        {
            pending.Completion.TrySetException(new ConnectionClosedException($"connection to {RemoteName} closed: {reason}"));
        }

        try
        {
            _stream.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Already broken; nothing more to release.
        }

        _services.OnClosed(this, reason);
    }

    private async Task AbortAsync()
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Close(CloseReason.ShuttingDown, "node shutting down");
        Terminate("disposed");
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The loops end by observing the teardown.
        }

        _lifetime.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var token = _lifetime.Token;
        ChunkInProgress? chunk = null;
        try
        {
            while (true)
            {
                var result = await _reader.ReadAsync(token).ConfigureAwait(false);
                var buffer = result.Buffer;
                Interlocked.Exchange(ref _lastReceivedTimestamp, _time.GetTimestamp());
                while (true)
                {
                    if (chunk is not null)
                    {
                        var take = (int)Math.Min(buffer.Length, chunk.Remaining);
                        chunk.Append(buffer.Slice(0, take));
                        buffer = buffer.Slice(take);
                        if (chunk.Remaining > 0) break;
                        Interlocked.Add(ref _chunkBytesReceived, chunk.Length);
                        chunk.Deliver();
                        chunk = null;
                        continue;
                    }

                    var status = FrameCodec.TryReadHeader(buffer, out var type, out var bodyLength, out var error);
                    if (status == FrameStatus.Invalid)
                    {
                        ProtocolViolation(error);
                        return;
                    }

                    if (status == FrameStatus.NeedMoreData) break;

                    if (type == MessageType.ChunkResponse)
                    {
                        // The header check guarantees a chunk response is long enough for its request id.
                        if (buffer.Length < FrameCodec.ChunkResponseHeaderSize) break;
                        var requestId = ReadUInt32BigEndian(buffer.Slice(FrameCodec.HeaderSize, 4));
                        buffer = buffer.Slice(FrameCodec.ChunkResponseHeaderSize);
                        chunk = new ChunkInProgress(bodyLength - 4, _pending.TryGetValue(requestId, out var pending) ? pending : null);
                        continue;
                    }

                    if (buffer.Length < FrameCodec.HeaderSize + bodyLength) break;
                    if (!FrameCodec.TryDecode(type, buffer.Slice(FrameCodec.HeaderSize, bodyLength), out var message, out error))
                    {
                        ProtocolViolation(error);
                        return;
                    }

                    buffer = buffer.Slice(FrameCodec.HeaderSize + bodyLength);
                    if (message is IndexUpdate update)
                    {
                        // Stored beside the reading, so chunk requests behind an update are not held up by the
                        // database; a peer that sends updates faster than they are stored is still slowed down by
                        // TCP once a few are queued, instead of filling memory.
                        await _indexUpdates.Writer.WriteAsync(update, token).ConfigureAwait(false);
                        continue;
                    }

                    if (!Dispatch(message!)) return;
                }

                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    Terminate("the peer closed the connection");
                    return;
                }

                if (chunk is not null)
                {
                    // The pipe is drained, so the rest of this chunk can go from TLS straight into its buffer: one
                    // copy fewer per byte on the hot path. The pipe resumes with the next frame.
                    if (!await chunk.ReadRestAsync(_stream, this, token).ConfigureAwait(false))
                    {
                        Terminate("the peer closed the connection");
                        return;
                    }

                    Interlocked.Exchange(ref _lastReceivedTimestamp, _time.GetTimestamp());
                    Interlocked.Add(ref _chunkBytesReceived, chunk.Length);
                    chunk.Deliver();
                    chunk = null;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            Terminate(e is OperationCanceledException ? "closed" : $"connection lost: {e.Message}");
        }
        finally
        {
            chunk?.Abandon();
            await _reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static uint ReadUInt32BigEndian(ReadOnlySequence<byte> bytes)
    {
        Span<byte> span = stackalloc byte[4];
        bytes.CopyTo(span);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(span);
    }

    private void ProtocolViolation(string error)
    {
        _logger.LogWarning("Protocol violation from {Peer} ({Device}): {Error}", RemoteName, RemoteId.ShortForm, error);
        Close(CloseReason.ProtocolError, error);
    }

    /// <summary>Returns false when the connection must stop reading.</summary>
    private bool Dispatch(Message message)
    {
        switch (message)
        {
            case StoreChunk when Interlocked.Increment(ref _queuedStores) > MaxPeerStores:
                ProtocolViolation($"more than {MaxPeerStores} chunks to store outstanding");
                return false;
            case ChunkRequest or ManifestRequest or StoreChunk:
                if (!_peerRequests.Writer.TryWrite(message))
                {
                    ProtocolViolation($"more than {MaxPeerRequests} requests outstanding");
                    return false;
                }

                return true;
            case Cancel cancel:
                _cancelledByPeer.TryAdd(cancel.RequestId, 0);
                return true;
            case ManifestResponse response:
                Complete(response.RequestId, response);
                return true;
            case StoreResult stored:
                Complete(stored.RequestId, stored);
                return true;
            case PutRecords records:
                _services.OnPutRecords(this, records);
                return true;
            case StoreStatus status:
                _services.OnStoreStatus(this, status);
                return true;
            case StoredChunks stored:
                _services.OnStoredChunks(this, stored);
                return true;
            case ErrorResponse error:
                if (_pending.TryGetValue(error.RequestId, out var pending))
                {
                    pending.Completion.TrySetException(new PeerErrorException(error.Code, error.Text));
                }

                return true;
            case Inventory inventory:
                _services.OnInventory(this, inventory);
                return true;
            case Have have:
                _services.OnHave(this, have);
                return true;
            case Removed removed:
                _services.OnRemoved(this, removed);
                return true;
            case Revoked revoked:
                _services.OnRevoked(this, revoked);
                return true;
            case IndexRequest indexRequest:
                _services.OnIndexRequest(this, indexRequest);
                return true;
            case Ping ping:
                Send(new Pong(ping.Payload));
                return true;
            case Pong pong:
                if (pong.Payload == (ulong)Interlocked.Read(ref _pingSentTimestamp))
                {
                    RoundTripTime = _time.GetElapsedTime((long)pong.Payload);
                }

                return true;
            case Close close:
                _logger.LogInformation("{Peer} ({Device}) closed the connection: {Reason} {Text}", RemoteName, RemoteId.ShortForm, close.Reason, close.Text);
                Terminate($"closed by the peer: {close.Text}");
                return false;
            default:
                ProtocolViolation($"unexpected {message.Type} after the handshake");
                return false;
        }
    }

    private void Complete(uint requestId, object response)
    {
        if (_pending.TryGetValue(requestId, out var pending)) pending.Completion.TrySetResult(response);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new byte[CoalesceLimit];
        var reader = _outgoing.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_lifetime.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var frame))
                {
                    if (frame.Length > SmallFrameLimit)
                    {
                        try
                        {
                            await _stream.WriteAsync(frame.Buffer.AsMemory(0, frame.Length), _lifetime.Token).ConfigureAwait(false);
                        }
                        finally
                        {
                            // Also when the write fails: a chunk frame holds one of the node's send buffers.
                            frame.Release(this);
                        }

                        if (frame.IsFinal) return;
                        continue;
                    }

                    // Small frames (haves, acks, small files' chunks) are gathered into one write instead of one each.
                    var used = 0;
                    var final = false;
                    while (true)
                    {
                        frame.Buffer.AsSpan(0, frame.Length).CopyTo(batch.AsSpan(used));
                        used += frame.Length;
                        final |= frame.IsFinal;
                        frame.Release(this);
                        if (final || !reader.TryPeek(out var next) || next.Length > SmallFrameLimit || used + next.Length > CoalesceLimit) break;
                        reader.TryRead(out frame);
                    }

                    await _stream.WriteAsync(batch.AsMemory(0, used), _lifetime.Token).ConfigureAwait(false);
                    if (final)
                    {
                        await _stream.FlushAsync(_lifetime.Token).ConfigureAwait(false);
                        return;
                    }
                }

                await _stream.FlushAsync(_lifetime.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            Terminate(e is OperationCanceledException ? "closed" : $"send failed: {e.Message}");
        }
        finally
        {
            // Completed first, so that no frame queued from now on is left in the channel with nobody to release it.
            _outgoing.Writer.TryComplete();
            while (reader.TryRead(out var frame)) frame.Release(this);
        }
    }

    private async Task ServeLoopAsync()
    {
        var token = _lifetime.Token;
        try
        {
            await foreach (var request in _peerRequests.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                if (request is ChunkRequest chunk && _cancelledByPeer.TryRemove(chunk.RequestId, out _)) continue;
                await _serveSlots.WaitAsync(token).ConfigureAwait(false);
                _ = ServeAsync(request, token);
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }

        // The loop ends only when no serve is left running: they use the connection's token and buffers.
        for (var i = 0; i < ConcurrentServes; i++) await _serveSlots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private async Task IndexLoopAsync()
    {
        var token = _lifetime.Token;
        try
        {
            await foreach (var update in _indexUpdates.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                await _services.OnIndexUpdateAsync(this, update, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }
        catch (Exception e)
        {
            // The index from this peer can no longer be trusted to be complete: start over on a new link.
            _logger.LogError(e, "Storing the folder index from {Peer} failed", RemoteName);
            Close(CloseReason.ProtocolError, "the folder index could not be stored");
        }
    }

    /// <summary>
    /// A few requests are served at once: a small file's chunk costs an open and a read, and a peer pulling many
    /// small files would otherwise wait on each of them in turn.
    /// </summary>
    private async Task ServeAsync(Message request, CancellationToken cancellationToken)
    {
        try
        {
            switch (request)
            {
                case ChunkRequest chunk:
                    await ServeChunkAsync(chunk, cancellationToken).ConfigureAwait(false);
                    break;
                case ManifestRequest manifest:
                    await ServeManifestAsync(manifest, cancellationToken).ConfigureAwait(false);
                    break;
                case StoreChunk store:
                    try
                    {
                        Send(new StoreResult(store.RequestId, await _services.StoreChunkAsync(this, store, cancellationToken).ConfigureAwait(false)));
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _queuedStores);
                    }

                    break;
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }
        finally
        {
            _serveSlots.Release();
        }
    }

    private async Task ServeManifestAsync(ManifestRequest request, CancellationToken cancellationToken)
    {
        var manifest = await _services.FindManifestAsync(request.File, cancellationToken).ConfigureAwait(false);
        if (manifest is null)
        {
            Send(new ErrorResponse(request.RequestId, ErrorCode.NotFound, "this node does not have that file"));
            return;
        }

        if (request.FirstChunk < 0 || request.FirstChunk > manifest.ChunkCount)
        {
            Send(new ErrorResponse(request.RequestId, ErrorCode.NotFound, "manifest page out of range"));
            return;
        }

        var count = Math.Min(ManifestResponse.MaxEntriesPerPage, manifest.ChunkCount - request.FirstChunk);
        var entries = new (int, Hash256)[count];
        for (var i = 0; i < count; i++)
        {
            var info = manifest[request.FirstChunk + i];
            entries[i] = (info.Length, info.Hash);
        }

        Send(new ManifestResponse(request.RequestId, manifest.Size, manifest.ChunkCount, request.FirstChunk, entries));
    }

    private async Task ServeChunkAsync(ChunkRequest request, CancellationToken cancellationToken)
    {
        var manifest = await _services.FindManifestAsync(request.File, cancellationToken).ConfigureAwait(false);
        if (manifest is null || request.ChunkIndex >= manifest.ChunkCount)
        {
            Send(new ErrorResponse(request.RequestId, ErrorCode.NotFound, "this node does not have that file"));
            return;
        }

        var lease = _services.AdmitChunkServe(this, request.File, request.ChunkIndex);
        if (lease is null)
        {
            Send(new ErrorResponse(request.RequestId, ErrorCode.Busy, "busy sending this chunk to others; get it from them"));
            return;
        }

        var length = manifest[request.ChunkIndex].Length;
        var frameLength = FrameCodec.ChunkResponseHeaderSize + length;
        byte[]? buffer = null;
        var queued = false;
        try
        {
            await _services.AcquireSendBufferAsync(cancellationToken).ConfigureAwait(false);
            buffer = ChunkBufferPool.Shared.Rent(frameLength);
            await _services.ReadChunkAsync(request.File, request.ChunkIndex, buffer.AsMemory(FrameCodec.ChunkResponseHeaderSize, length), cancellationToken).ConfigureAwait(false);
            if (_cancelledByPeer.TryRemove(request.RequestId, out _)) return;
            await _services.AcquireUploadAsync(length, cancellationToken).ConfigureAwait(false);
            FrameCodec.WriteChunkResponseHeader(buffer, request.RequestId, length);
            // A large chunk waits for one of the few slots; a small one is bounded by the node's send buffers alone.
            var holdsSlot = frameLength > SmallFrameLimit;
            if (holdsSlot) await _chunkFrameSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!_outgoing.Writer.TryWrite(new OutgoingFrame(buffer, frameLength, IsChunk: true, HoldsSlot: holdsSlot, Lease: lease)))
            {
                if (holdsSlot) _chunkFrameSlots.Release();
                Close(CloseReason.Timeout, "the peer is not reading (send queue full)");
                return;
            }

            queued = true;
            Interlocked.Add(ref _chunkBytesSent, length);
        }
        catch (ChunkServeException e)
        {
            Send(new ErrorResponse(request.RequestId, e.Code, e.Message));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever went wrong locally, this peer gets an answer and every other request is still served.
            _logger.LogWarning(e, "Could not read chunk {Index} of {File} for {Peer}", request.ChunkIndex, request.File.ShortForm, RemoteName);
            Send(new ErrorResponse(request.RequestId, ErrorCode.Internal, "the file could not be read at its source"));
        }
        finally
        {
            if (!queued)
            {
                lease.Dispose();
                if (buffer is not null)
                {
                    ChunkBufferPool.Shared.Return(buffer);
                    _services.ReleaseSendBuffer();
                }
            }
        }
    }

    private async Task KeepAliveLoopAsync()
    {
        using var timer = new PeriodicTimer(KeepAlive.Interval, _time);
        try
        {
            // The first ping goes out at once, so the round-trip time is known as soon as the peer is.
            SendPing();
            while (await timer.WaitForNextTickAsync(_lifetime.Token).ConfigureAwait(false))
            {
                if (_time.GetElapsedTime(Interlocked.Read(ref _lastReceivedTimestamp)) > KeepAlive.IdleTimeout)
                {
                    Close(CloseReason.Timeout, "no traffic from the peer");
                    return;
                }

                SendPing();
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }
    }

    private void SendPing()
    {
        var now = _time.GetTimestamp();
        Interlocked.Exchange(ref _pingSentTimestamp, now);
        Send(new Ping((ulong)now));
    }

    private sealed class PendingRequest
    {
        public TaskCompletionSource<object> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A chunk response being copied out of the pipe as it arrives, so the pipe never buffers whole chunks.</summary>
    private sealed class ChunkInProgress
    {
        private readonly PendingRequest? _pending;
        private readonly ReceivedChunk? _chunk;

        public ChunkInProgress(int length, PendingRequest? pending)
        {
            Length = length;
            Remaining = length;
            // Data for a request we no longer wait for (cancelled, or a lying id) is skipped, not stored.
            if (pending is not null && !pending.Completion.Task.IsCompleted)
            {
                _pending = pending;
                _chunk = new ReceivedChunk(length);
            }
        }

        public int Length { get; }

        public long Remaining { get; private set; }

        public void Append(ReadOnlySequence<byte> data)
        {
            if (_chunk is not null) data.CopyTo(_chunk.Memory.Span[(Length - (int)Remaining)..]);
            Remaining -= data.Length;
        }

        /// <summary>Reads the chunk's remaining bytes directly from the stream; false if it ends first.</summary>
        /// <param name="owner">
        /// Told of every read: a chunk can take longer than the idle timeout on a slow link, which is slow, not silent.
        /// </param>
        public async ValueTask<bool> ReadRestAsync(Stream stream, PeerConnection owner, CancellationToken cancellationToken)
        {
            var scratch = _chunk is null ? ArrayPool<byte>.Shared.Rent(64 * 1024) : null;
            try
            {
                while (Remaining > 0)
                {
                    var target = _chunk is not null
                        ? _chunk.Memory[(Length - (int)Remaining)..]
                        : scratch.AsMemory(0, (int)Math.Min(scratch!.Length, Remaining));
                    var read = await stream.ReadAsync(target, cancellationToken).ConfigureAwait(false);
                    if (read == 0) return false;
                    Interlocked.Exchange(ref owner._lastReceivedTimestamp, owner._time.GetTimestamp());
                    Remaining -= read;
                }

                return true;
            }
            finally
            {
                if (scratch is not null) ArrayPool<byte>.Shared.Return(scratch);
            }
        }

        public void Deliver()
        {
            if (_chunk is null) return;
            if (!_pending!.Completion.TrySetResult(_chunk)) _chunk.Dispose();
        }

        public void Abandon() => _chunk?.Dispose();
    }

    /// <param name="IsChunk">A chunk frame: its buffer is from <see cref="ChunkBufferPool"/> and holds one of the node's send buffers.</param>
    /// <param name="HoldsSlot">Holds one of the connection's slots for large chunk frames.</param>
    /// <param name="Lease">The node's admission of the chunk (<see cref="IPeerServices.AdmitChunkServe"/>), ended once the frame is written.</param>
    private readonly record struct OutgoingFrame(byte[] Buffer, int Length, bool IsChunk, bool IsFinal = false, bool HoldsSlot = false, IDisposable? Lease = null)
    {
        public void Release(PeerConnection owner)
        {
            if (!IsChunk)
            {
                ArrayPool<byte>.Shared.Return(Buffer);
                return;
            }

            Lease?.Dispose();
            ChunkBufferPool.Shared.Return(Buffer);
            if (HoldsSlot) owner._chunkFrameSlots.Release();
            owner._services.ReleaseSendBuffer();
        }
    }
}
