using System.Net;
using System.Net.Sockets;

namespace Shoal.Net.Tests;

/// <summary>Two ends of a real TCP connection on 127.0.0.1, each owning its socket.</summary>
public static class LoopbackPair
{
    public static async Task<(NetworkStream Client, NetworkStream Server)> ConnectAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync();
        await client.ConnectAsync(listener.LocalEndPoint!);
        var server = await accept;
        return (new NetworkStream(client, ownsSocket: true), new NetworkStream(server, ownsSocket: true));
    }
}
