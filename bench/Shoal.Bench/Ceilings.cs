using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Shoal.Net;

namespace Shoal.Bench;

internal sealed record Ceiling(string Name, double BytesPerSecond, string Note);

/// <summary>
/// What the machine can do at best on the paths a transfer uses, measured in this process: a transfer cannot beat the
/// slowest of them, and the distance to them says where the time goes.
/// </summary>
internal static class Ceilings
{
    private const int MiB = 1 << 20;
    private const long DiskBytes = 1L << 30;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(0.5);

    public static async Task<IReadOnlyList<Ceiling>> RunAsync(string workDir, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(workDir, "ceilings");
        Directory.CreateDirectory(dir);
        var results = new List<Ceiling>();

        Sha256(WarmUp);
        results.Add(new Ceiling("SHA-256, one core", Sha256(Duration), "SHA256.HashData over 1 MiB buffers"));
        Report(results[^1]);

        await StreamAsync(null, WarmUp, cancellationToken).ConfigureAwait(false);
        var (tcp, _) = await StreamAsync(null, Duration, cancellationToken).ConfigureAwait(false);
        results.Add(new Ceiling("TCP loopback, one stream", tcp, "1 MiB writes, reader on another thread"));
        Report(results[^1]);

        await StreamAsync(dir, WarmUp, cancellationToken).ConfigureAwait(false);
        var (tls, suite) = await StreamAsync(dir, Duration, cancellationToken).ConfigureAwait(false);
        results.Add(new Ceiling("TLS 1.3 loopback, one stream", tls, $"{suite}, Shoal's TlsChannel and P-256 certificates, 1 MiB writes"));
        Report(results[^1]);

        results.Add(new Ceiling("disk write + fsync", await DiskAsync(dir, cancellationToken).ConfigureAwait(false), $"{DiskBytes >> 30} GiB in 4 MiB writes, one fsync at the end, in the work dir"));
        Report(results[^1]);
        return results;
    }

    private static void Report(Ceiling ceiling) =>
        Console.Out.WriteLine($"ceiling: {ceiling.Name}: {ceiling.BytesPerSecond / 1e6:F0} MB/s");

    private static double Sha256(TimeSpan duration)
    {
        var buffer = new byte[MiB];
        RandomNumberGenerator.Fill(buffer);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            SHA256.HashData(buffer, digest);
            bytes += buffer.Length;
        }

        return bytes / clock.Elapsed.TotalSeconds;
    }

    /// <summary>One stream over loopback, plain TCP or (with a directory for the identities) TLS. Rate as the reader saw it.</summary>
    private static async Task<(double BytesPerSecond, string Suite)> StreamAsync(string? tlsDir, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accepting = listener.AcceptAsync(cancellationToken);
        await client.ConnectAsync(listener.LocalEndPoint!, cancellationToken).ConfigureAwait(false);
        var server = await accepting.ConfigureAwait(false);
        Stream writer = new NetworkStream(client, ownsSocket: true);
        Stream reader = new NetworkStream(server, ownsSocket: true);
        var suite = "";
        using var clientIdentity = tlsDir is null ? null : NodeIdentity.LoadOrCreate(Path.Combine(tlsDir, "client"));
        using var serverIdentity = tlsDir is null ? null : NodeIdentity.LoadOrCreate(Path.Combine(tlsDir, "server"));
        if (clientIdentity is not null && serverIdentity is not null)
        {
            var serverSide = TlsChannel.AuthenticateAsServerAsync(reader, serverIdentity, cancellationToken);
            var clientSide = TlsChannel.AuthenticateAsClientAsync(writer, clientIdentity, cancellationToken);
            reader = await serverSide.ConfigureAwait(false);
            var ssl = await clientSide.ConfigureAwait(false);
            suite = ssl.NegotiatedCipherSuite.ToString();
            writer = ssl;
        }

        await using (writer.ConfigureAwait(false))
        await using (reader.ConfigureAwait(false))
        {
            var clock = Stopwatch.StartNew();
            var reading = Task.Run(async () =>
            {
                var buffer = new byte[MiB];
                long total = 0;
                int read;
                while ((read = await reader.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0) total += read;
                return total;
            }, cancellationToken);

            var data = new byte[MiB];
            RandomNumberGenerator.Fill(data);
            while (clock.Elapsed < duration) await writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            if (writer is SslStream tls) await tls.ShutdownAsync().ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Send);
            var received = await reading.ConfigureAwait(false);
            return (received / clock.Elapsed.TotalSeconds, suite);
        }
    }

    private static async Task<double> DiskAsync(string dir, CancellationToken cancellationToken)
    {
        var path = Path.Combine(dir, "disk.bin");
        var buffer = new byte[4 * MiB];
        RandomNumberGenerator.Fill(buffer);
        try
        {
            var clock = Stopwatch.StartNew();
            await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: false))
            {
                for (long written = 0; written < DiskBytes; written += buffer.Length)
                {
                    await file.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
                }

                file.Flush(flushToDisk: true);
            }

            return DiskBytes / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
