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

    public const string Pipeline = "minimal TLS+SHA-256+write pipeline";

    /// <param name="quick">--quick (the CI smoke run): 0.5 s per stream and 256 MiB to disk instead of 3 s and 1 GiB.</param>
    public static async Task<IReadOnlyList<Ceiling>> RunAsync(string workDir, CancellationToken cancellationToken, bool quick = false)
    {
        var dir = Path.Combine(workDir, "ceilings");
        Directory.CreateDirectory(dir);
        var results = new List<Ceiling>();
        var duration = TimeSpan.FromSeconds(quick ? 0.5 : 3);
        var warmUp = TimeSpan.FromSeconds(quick ? 0.1 : 0.5);
        var diskBytes = quick ? 256L * MiB : 1L << 30;

        Sha256(warmUp);
        results.Add(new Ceiling("SHA-256, one core", Sha256(duration), "SHA256.HashData over 1 MiB buffers"));
        Report(results[^1]);

        await StreamAsync(null, warmUp, cancellationToken).ConfigureAwait(false);
        var (tcp, _) = await StreamAsync(null, duration, cancellationToken).ConfigureAwait(false);
        results.Add(new Ceiling("TCP loopback, one stream", tcp, "1 MiB writes, reader on another thread"));
        Report(results[^1]);

        await StreamAsync(dir, warmUp, cancellationToken).ConfigureAwait(false);
        var (tls, suite) = await StreamAsync(dir, duration, cancellationToken).ConfigureAwait(false);
        results.Add(new Ceiling("TLS 1.3 loopback, one stream", tls, $"{suite}, Shoal's TlsChannel and P-256 certificates, 1 MiB writes"));
        Report(results[^1]);

        results.Add(new Ceiling("disk write + fsync", await DiskAsync(dir, diskBytes, cancellationToken).ConfigureAwait(false), $"{diskBytes / (double)(1L << 30):0.##} GiB in 4 MiB writes, one fsync at the end, in the work dir"));
        Report(results[^1]);

        var (pipeline, pipelineSuite) = await OverLoopbackAsync(dir, (writer, reader, client) => PipelineAsync(writer, reader, client, dir, diskBytes, cancellationToken), cancellationToken).ConfigureAwait(false);
        results.Add(new Ceiling(Pipeline, pipeline,
            $"{diskBytes / (double)(1L << 30):0.##} GiB over one TLS stream as above ({pipelineSuite}); the receiver SHA-256-hashes each 1 MiB block, " +
            "writes it to a preallocated file in the work dir, fsync at the end; both ends in this process, sharing the cores as two nodes would"));
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
    private static Task<(double BytesPerSecond, string Suite)> StreamAsync(string? tlsDir, TimeSpan duration, CancellationToken cancellationToken) =>
        OverLoopbackAsync(tlsDir, async (writer, reader, client) =>
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
            await EndAsync(writer, client).ConfigureAwait(false);
            var received = await reading.ConfigureAwait(false);
            return received / clock.Elapsed.TotalSeconds;
        }, cancellationToken);

    /// <summary>
    /// What a sink does at least with each byte, in its simplest form: receive it over TLS, hash it (SHA-256, per 1 MiB
    /// block, as chunks are verified), write it; one fsync at the end. Rate from the first byte sent to the fsync's end.
    /// </summary>
    private static async Task<double> PipelineAsync(Stream writer, Stream reader, Socket client, string dir, long bytes, CancellationToken cancellationToken)
    {
        var path = Path.Combine(dir, "pipeline.bin");
        try
        {
            var clock = Stopwatch.StartNew();
            var receiving = Task.Run(async () =>
            {
                var buffer = new byte[MiB];
                var digest = new byte[SHA256.HashSizeInBytes];
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0, PreallocationSize = bytes };
                await using var file = new FileStream(path, options);
                long total = 0;
                int read;
                while ((read = await reader.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    SHA256.HashData(buffer.AsSpan(0, read), digest);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    total += read;
                }

                file.Flush(flushToDisk: true);
                return total;
            }, cancellationToken);

            var data = new byte[MiB];
            RandomNumberGenerator.Fill(data);
            for (long sent = 0; sent < bytes; sent += data.Length) await writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await EndAsync(writer, client).ConfigureAwait(false);
            var received = await receiving.ConfigureAwait(false);
            if (received != bytes) throw new BenchException($"the pipeline ceiling received {received} of {bytes} bytes");
            return received / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task EndAsync(Stream writer, Socket client)
    {
        if (writer is SslStream tls) await tls.ShutdownAsync().ConfigureAwait(false);
        client.Shutdown(SocketShutdown.Send);
    }

    /// <summary>
    /// Connects a writer and a reader over loopback, plain TCP or (with a directory for the identities) TLS 1.3 with
    /// Shoal's TlsChannel and certificates, and runs <paramref name="transfer"/> over them. Returns its result and the suite.
    /// </summary>
    private static async Task<(double BytesPerSecond, string Suite)> OverLoopbackAsync(
        string? tlsDir, Func<Stream, Stream, Socket, Task<double>> transfer, CancellationToken cancellationToken)
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
            return (await transfer(writer, reader, client).ConfigureAwait(false), suite);
        }
    }

    private static async Task<double> DiskAsync(string dir, long bytes, CancellationToken cancellationToken)
    {
        var path = Path.Combine(dir, "disk.bin");
        var buffer = new byte[4 * MiB];
        RandomNumberGenerator.Fill(buffer);
        try
        {
            var clock = Stopwatch.StartNew();
            await using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: false))
            {
                for (long written = 0; written < bytes; written += buffer.Length)
                {
                    await file.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
                }

                file.Flush(flushToDisk: true);
            }

            return bytes / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
