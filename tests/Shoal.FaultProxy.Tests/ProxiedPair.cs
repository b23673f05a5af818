using System.Net;
using System.Net.Sockets;
using Shoal.Testing;

namespace Shoal.Faults.Tests;

/// <summary>A client and a server socket on loopback, connected through a <see cref="FaultProxy"/>.</summary>
internal sealed class ProxiedPair : IAsyncDisposable
{
    private readonly Socket _listener;

    private ProxiedPair(Socket listener, FaultProxy proxy)
    {
        _listener = listener;
        Proxy = proxy;
    }

    public FaultProxy Proxy { get; }

    public Socket Client { get; private set; } = null!;

    public Socket Server { get; private set; } = null!;

    public static async Task<ProxiedPair> StartAsync(int seed = 0, TimeProvider? time = null)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        var pair = new ProxiedPair(listener, FaultProxy.Start((IPEndPoint)listener.LocalEndPoint!, seed: seed, time: time));
        await pair.ConnectAsync();
        return pair;
    }

    /// <summary>A new connection through the proxy (the previous sockets are left to the test).</summary>
    public async Task ConnectAsync()
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(Proxy.EndPoint);
        Client = client;
        Server = await _listener.AcceptAsync().WaitAsync(TimeSpan.FromMinutes(1));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Server.Dispose();
        _listener.Dispose();
        await Proxy.DisposeAsync();
    }
}

internal static class Sockets
{
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static async Task SendAllAsync(this Socket socket, ReadOnlyMemory<byte> data, int pieceSize = int.MaxValue)
    {
        for (var sent = 0; sent < data.Length;)
        {
            sent += await socket.SendAsync(data.Slice(sent, Math.Min(pieceSize, data.Length - sent)));
        }
    }

    /// <summary>Reads exactly <paramref name="length"/> bytes; the timeout only guards a broken build.</summary>
    public static async Task<byte[]> ReceiveExactlyAsync(this Socket socket, int length)
    {
        var buffer = new byte[length];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        for (var read = 0; read < length;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), timeout.Token);
            if (n == 0) throw new EndOfStreamException($"closed after {read} of {length} bytes");
            read += n;
        }

        return buffer;
    }

    public static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }

    /// <summary>
    /// Runs the manual clock forward, timer by timer, until <paramref name="done"/>: the proxy's waits pass
    /// instantly, and the clock says how long they would have taken. Returns that simulated time.
    /// </summary>
    public static async Task<TimeSpan> RunClockUntilAsync(this ManualTimeProvider time, Func<bool> done, string what)
    {
        var start = time.GetTimestamp();
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            if (time.UntilNextTimer is { } next) time.Advance(next);
            else await Task.Delay(1);
        }

        return time.GetElapsedTime(start);
    }
}
