using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Shoal.Faults;

/// <summary>One client connection and its connection to the target: a pump per direction, each a reader and a writer.</summary>
internal sealed class ProxyConnection
{
    private const int SegmentSize = 16 * 1024;

    /// <summary>Bytes read but not yet written, per direction: what a delay or a stall holds before TCP pushes back.</summary>
    private const int QueuedSegments = 64;

    private readonly FaultProxy _proxy;
    private readonly Socket _client;
    private readonly Socket _server;
    private readonly IPEndPoint _target;
    private readonly long _number;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _cancel;
    private int _aborted;

    public ProxyConnection(FaultProxy proxy, Socket client, IPEndPoint target, long number, TimeProvider time, CancellationToken stopping)
    {
        _proxy = proxy;
        _client = client;
        _client.NoDelay = true;
        _server = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _target = target;
        _number = number;
        _time = time;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
    }

    /// <summary>Closes with a reset (RST), as a broken path or a crashed middlebox would, not an orderly FIN.</summary>
    public static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing left to reset.
        }

        socket.Dispose();
    }

    public async Task RunAsync()
    {
        try
        {
            await _server.ConnectAsync(_target, _cancel.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The target is down: the client sees the refusal as a reset.
            Abort();
            _cancel.Dispose();
            return;
        }

        var up = PumpAsync(_client, _server, _proxy.Upstream, direction: 0);
        var down = PumpAsync(_server, _client, _proxy.Downstream, direction: 1);
        await Task.WhenAll(up, down).ConfigureAwait(false);
        _client.Dispose();
        _server.Dispose();
        _cancel.Dispose();
    }

    /// <summary>Resets both sides; the pumps end on their own.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0) return;
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Finished meanwhile.
        }

        Reset(_client);
        Reset(_server);
    }

    private async Task PumpAsync(Socket from, Socket to, LinkFaults faults, int direction)
    {
        await Task.Yield();
        var queue = Channel.CreateBounded<Segment>(new BoundedChannelOptions(QueuedSegments) { SingleReader = true, SingleWriter = true });
        var reading = ReadAsync(from, queue.Writer, faults);
        var flips = new RandomFlips(new Random(unchecked((_proxy.Seed * 1_000_003) + ((int)_number * 2) + direction)));
        try
        {
            await WriteAsync(to, queue.Reader, faults, flips).ConfigureAwait(false);
        }
        finally
        {
            await reading.ConfigureAwait(false);
            while (queue.Reader.TryRead(out var left)) ArrayPool<byte>.Shared.Return(left.Buffer);
        }
    }

    private async Task ReadAsync(Socket from, ChannelWriter<Segment> queue, LinkFaults faults)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(SegmentSize);
                int read;
                try
                {
                    read = await from.ReceiveAsync(buffer.AsMemory(0, SegmentSize), _cancel.Token).ConfigureAwait(false);
                    faults.CountReceived(read);
                    if (read > 0) await queue.WriteAsync(new Segment(buffer, read, _time.GetTimestamp()), _cancel.Token).ConfigureAwait(false);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }

                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Abort();
        }
        finally
        {
            queue.TryComplete();
        }
    }

    private async Task WriteAsync(Socket to, ChannelReader<Segment> queue, LinkFaults faults, RandomFlips flips)
    {
        var due = new List<int>();
        try
        {
            await foreach (var segment in queue.ReadAllAsync(_cancel.Token).ConfigureAwait(false))
            {
                try
                {
                    var late = faults.Delay - _time.GetElapsedTime(segment.Received);
                    if (late > TimeSpan.Zero) await Task.Delay(late, _time, _cancel.Token).ConfigureAwait(false);
                    for (var sent = 0; sent < segment.Length;)
                    {
                        await faults.WaitUntilFlowingAsync(_cancel.Token).ConfigureAwait(false);
                        var piece = segment.Buffer.AsMemory(sent, faults.NextPiece(segment.Length - sent));
                        var wait = faults.Pace(piece.Length);
                        if (wait > TimeSpan.Zero) await Task.Delay(wait, _time, _cancel.Token).ConfigureAwait(false);
                        Corrupt(piece.Span, faults, flips, due);
                        for (var written = 0; written < piece.Length;)
                        {
                            written += await to.SendAsync(piece[written..], _cancel.Token).ConfigureAwait(false);
                        }

                        sent += piece.Length;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(segment.Buffer);
                }
            }

            // The source closed its side: pass the end on, and let the other direction finish.
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Abort();
        }
    }

    private static void Corrupt(Span<byte> piece, LinkFaults faults, RandomFlips flips, List<int> due)
    {
        due.Clear();
        faults.Claim(piece.Length, due);
        foreach (var offset in due) flips.FlipOne(ref piece[offset], faults);
        flips.Apply(piece, faults);
    }

    private readonly record struct Segment(byte[] Buffer, int Length, long Received);

    /// <summary>
    /// Random flips at positions drawn as gaps in this direction's byte stream, so where they land depends only on
    /// the seed and the bytes' offsets, never on how the stream happened to be split into reads.
    /// </summary>
    private sealed class RandomFlips(Random random)
    {
        private long _offset;
        private long _next = long.MaxValue;
        private double _probability;

        public void Apply(Span<byte> data, LinkFaults faults)
        {
            var probability = faults.FlipProbability;
            if (probability != _probability)
            {
                _probability = probability;
                _next = probability > 0 ? _offset + Gap() : long.MaxValue;
            }

            while (_next < _offset + data.Length)
            {
                FlipOne(ref data[(int)(_next - _offset)], faults);
                _next += 1 + Gap();
            }

            _offset += data.Length;
        }

        public void FlipOne(ref byte value, LinkFaults faults)
        {
            value ^= (byte)(1 << random.Next(8));
            faults.CountFlip();
        }

        /// <summary>Bytes until the next flip: geometric with the flip probability.</summary>
        private long Gap()
        {
            if (_probability >= 1) return 0;
            var gap = Math.Log(1 - random.NextDouble()) / Math.Log(1 - _probability);
            return gap >= long.MaxValue / 4 ? long.MaxValue / 4 : (long)gap;
        }
    }
}
