using System.Net;
using System.Net.Sockets;

namespace Shoal.Node.Peers;

/// <summary>
/// Sockets that share the node's listen port. A NAT maps the listen port to the public port the tracker sees only for
/// traffic that leaves from it, so the tracker's long poll and every punch dial bind it too (SO_REUSEPORT, which the
/// listener must also set: Linux lets no socket share a port with a listener otherwise).
/// </summary>
internal static class ListenPortSockets
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private const int SoReusePort = 15;

    /// <summary>Throws when another socket holds the port, whether or not it shares it.</summary>
    public static void ProbeExclusive(IPEndPoint endPoint)
    {
        using var probe = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any)) probe.DualMode = true;
        if (OperatingSystem.IsLinux()) probe.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
        probe.Bind(endPoint);
    }

    public static void ShareListenPort(Socket socket)
    {
        if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
    }

    /// <summary>A socket bound to the listen end point, ready to connect from it.</summary>
    public static Socket Bind(IPEndPoint listen)
    {
        var socket = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (listen.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = true;
            if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
            ShareListenPort(socket);
            socket.Bind(listen);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
