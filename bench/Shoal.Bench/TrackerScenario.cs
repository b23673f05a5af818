using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using Npgsql;
using Shoal.Core;
using Shoal.Net;
using Shoal.Net.Tracking;

namespace Shoal.Bench;

/// <summary>
/// The tracker (<c>shoal tracker</c>, a process of its own) serving a simulated network, on SQLite and on PostgreSQL:
/// 10,000 nodes, each with its own certificate, register, send a heartbeat, and ask for files, holders and peers.
/// Each phase sends a fixed number of requests with a fixed number in flight and reports requests/s and latency.
/// </summary>
internal static partial class TrackerScenario
{
    private const int Nodes = 10_000;
    private const int Files = 100;
    private const int ChunksPerFile = 1_000;
    private const long ChunkSize = 1 << 20;
    private const int PeersRequests = 10_000;

    // Fewer: every answer summarises each matching file from all its ~300 holders' bitfields, and a search also scans
    // every holding's name; on SQLite that is ~10 answers/s here, so 10,000 would take 20 minutes.
    private const int SearchRequests = 2_000;
    private const int HoldersRequests = 2_000;
    private const int FilesLimit = 50;
    private const int PeersLimit = 200;
    private const int Concurrency = 32;
    private const int SampledAnswers = 100;
    private const int Seed = 20261122;

    // Requests are signed before the clock runs (the client shares the cores with the server, and signing is the
    // nodes' work, not the tracker's), a round at a time: a signature is good for two minutes. A round is as many
    // requests as the last one's rate sends in RoundTarget, so a slow phase cannot outlive its signatures.
    private const int FirstRound = 4 * Concurrency;
    private const int MaxRound = 1_000;
    private static readonly TimeSpan RoundTarget = TimeSpan.FromSeconds(20);

    // Nodes are told to announce every hour, so no registration expires and the sweeper never runs during the phases:
    // every query sees all 10,000 nodes, however long a slow backend takes to get there.
    private const int IntervalSeconds = 3600;

    // 4 files per word. A search is two letters of one word (never of "file-" or ".bin", which every name contains).
    private static readonly string[] Words =
    [
        "alpine", "harbor", "quartz", "meadow", "crimson", "velvet", "summit", "lantern", "orchard", "cobalt", "prairie", "saffron", "glacier",
        "tundra", "mosaic", "zephyr", "juniper", "walnut", "basalt", "dune", "fjord", "kelp", "oyster", "pumpkin", "yonder",
    ];

    public static async Task<string> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var dir = Path.Combine(context.WorkDir, "tracker");
        Directory.CreateDirectory(dir);
        var scenarioClock = Stopwatch.StartNew();
        var certificates = new X509Certificate2[Nodes];
        var networkKeys = new List<NetworkTrackerKey>();
        var signers = new TrackerRequestSigner[Nodes];
        try
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, Nodes, new ParallelOptions { CancellationToken = cancellationToken }, i => certificates[i] = NewCertificate());
            var certificateSeconds = clock.Elapsed.TotalSeconds;

            // One network key per signing thread, all derived from one network: every signer is used by one thread only.
            var membership = NetworkMembership.CreateNew();
            for (var p = 0; p < Environment.ProcessorCount; p++) networkKeys.Add(NetworkTrackerKey.Derive(membership));
            for (var i = 0; i < Nodes; i++) signers[i] = new TrackerRequestSigner(certificates[i], networkKeys[i % networkKeys.Count], TimeProvider.System);
            var load = new Load(signers, networkKeys.Count, Simulate());

            var results = new List<PhaseResult>();
            Console.Out.WriteLine("tracker: SQLite ...");
            results.AddRange(await RunBackendAsync(context, "SQLite", Path.Combine(dir, "tracker.db"), null, load, cancellationToken).ConfigureAwait(false));
            var postgres = "PostgreSQL: not installed";
            var installed = PostgresCluster.FindBinaries() is not null;
            if (installed)
            {
                Console.Out.WriteLine("tracker: PostgreSQL ...");
                await using var cluster = await StartPostgresAsync(Path.Combine(dir, "postgres"), cancellationToken).ConfigureAwait(false);
                var database = await cluster.CreateDatabaseAsync("tracker", cancellationToken).ConfigureAwait(false);
                var backend = $"PostgreSQL {cluster.Version.Split(' ')[0]}";
                postgres = $"{backend}: a private cluster on 127.0.0.1 with fsync on and synchronous_commit on (the defaults: every commit waits for its WAL flush), max_connections 200";
                results.AddRange(await RunBackendAsync(context, backend, database, () => ServerTicks(cluster.ServerProcessId), load, cancellationToken).ConfigureAwait(false));
            }

            var report = new StringBuilder();
            report.AppendLine("| backend | phase | requests | req/s | p50 ms | p99 ms | max ms | answer (mean) | tracker CPU s | database server CPU s | client CPU s | tracker peak RSS MiB |");
            report.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
            foreach (var r in results)
            {
                var database = r.DatabaseCpuSeconds is { } seconds ? seconds.ToString("F1", CultureInfo.InvariantCulture) : "in the tracker";
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Backend} | {r.Phase} | {r.Requests} | {r.Requests / r.Seconds:F0} | {FolderScenario.Percentile(r.Latencies, 0.5):F1} | {FolderScenario.Percentile(r.Latencies, 0.99):F1} | {r.Latencies[^1]:F1} | {r.Answer} | {r.TrackerCpuSeconds:F1} | {database} | {r.ClientCpuSeconds:F1} | {r.PeakRssBytes / (double)(1 << 20):F0} |");
            }

            if (!installed) report.AppendLine("| PostgreSQL | not installed | | | | | | | | | | |");
            report.AppendLine();
            report.AppendLine(CultureInfo.InvariantCulture,
                $"Setup: {Nodes:N0} simulated nodes in one network, each with its own certificate (ECDSA P-256, made in {certificateSeconds:F1} s on {Environment.ProcessorCount} threads); "
                + $"{Files} files × {ChunksPerFile:N0} chunks = {Files * ChunksPerFile:N0} chunks; each node holds 3 files (1 complete, 2 with about half the chunks), so about {Nodes * 3 / Files} holders per file. "
                + $"Phases: register (an announce with reset and the node's 3 files), heartbeat (a delta announce: one partial file's bitfield grew), files (a search for two letters of a name, limit {FilesLimit}), holders (of a random file, every holder: limit {TrackerLimits.MaxResults:N0}), peers (limit {PeersLimit}); files and holders get fewer requests because each answer is much more work. "
                + $"{Concurrency} requests in flight over HTTP/1.1 keep-alive connections; every request signed before the clock starts, in rounds of up to {MaxRound:N0} sized to take about {RoundTarget.TotalSeconds:F0} s "
                + $"(signing and building them took {results.Sum(r => r.SignSeconds) / results.Sum(r => r.Requests) * 1e6:F0} µs per request on {Environment.ProcessorCount} threads, outside the clock); answers sampled ({SampledAnswers} per phase) after the clock stops. "
                + $"Tracker: `shoal tracker --interval {IntervalSeconds}` (nothing expires or is swept during the run); CPU is utime + stime over the timed rounds, peak RSS is VmHWM so far. "
                + $"SQLite: the tracker's own settings (WAL, synchronous = NORMAL: no fsync per commit). {postgres}. "
                + $"The machine's {Environment.ProcessorCount} cores are shared by the tracker, the database and this client. The scenario took {scenarioClock.Elapsed.TotalSeconds:F0} s.");
            return report.ToString();
        }
        finally
        {
            foreach (var signer in signers) signer?.Dispose();
            foreach (var key in networkKeys) key.Dispose();
            foreach (var certificate in certificates) certificate?.Dispose();
            Bench.TryDelete(dir);
        }
    }

    private static async Task<PostgresCluster> StartPostgresAsync(string dir, CancellationToken cancellationToken)
    {
        try
        {
            return await PostgresCluster.StartAsync(dir, fsync: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or NpgsqlException)
        {
            throw new BenchException($"PostgreSQL did not start: {e.Message}");
        }
    }

    private static X509Certificate2 NewCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=shoal-bench", key, HashAlgorithmName.SHA256);
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
    }

    /// <summary>The requests of every phase as JSON bodies, the same for every backend; only signatures are made per run.</summary>
    private static IReadOnlyList<Phase> Simulate()
    {
        var random = new Random(Seed);
        var files = new (string Id, string Name)[Files];
        for (var f = 0; f < Files; f++)
        {
            var id = new byte[Hash256.Size];
            random.NextBytes(id);
            files[f] = (FileId.FromBytes(id).ToString(), $"file-{f:D4}-{Words[f % Words.Length]}.bin");
        }

        FileAnnouncement Holding(int file, byte[]? chunks) =>
            new(files[file].Id, files[file].Name, ChunksPerFile * ChunkSize, ChunksPerFile, chunks is null ? null : Convert.ToBase64String(chunks));

        byte[] HalfTheChunks()
        {
            var bits = new byte[Bitfield.ByteLength(ChunksPerFile)];
            random.NextBytes(bits);
            return bits;
        }

        var register = new Request[Nodes];
        var heartbeat = new Request[Nodes];
        for (var i = 0; i < Nodes; i++)
        {
            var held = Enumerable.Range(0, Files).OrderBy(_ => random.Next()).Take(3).ToArray();
            var (name, port) = ($"node-{i:D5}", 20_000 + i);
            string[] addresses = [$"192.168.{i / 250}.{(i % 250) + 1}:{port}"];
            var partial = HalfTheChunks();
            register[i] = new(i, Body(new AnnounceRequest(name, port, addresses, Reset: true, [Holding(held[0], null), Holding(held[1], partial), Holding(held[2], HalfTheChunks())]), TrackerJson.Default.AnnounceRequest));

            // Download progress: about half of the missing chunks arrived.
            var grown = HalfTheChunks();
            for (var b = 0; b < grown.Length; b++) grown[b] |= partial[b];
            heartbeat[i] = new(i, Body(new AnnounceRequest(name, port, addresses, Reset: false, [Holding(held[1], grown)]), TrackerJson.Default.AnnounceRequest));
        }

        var fragments = Words.SelectMany(w => Enumerable.Range(0, w.Length - 1).Select(s => w.Substring(s, 2)))
            .Where(f => !"file-".Contains(f, StringComparison.Ordinal) && !".bin".Contains(f, StringComparison.Ordinal))
            .Distinct()
            .ToArray();
        var search = Enumerable.Range(0, SearchRequests)
            .Select(j => new Request(j % Nodes, Body(new FilesRequest(fragments[random.Next(fragments.Length)], FilesLimit), TrackerJson.Default.FilesRequest)))
            .ToArray();
        var holders = Enumerable.Range(0, HoldersRequests)
            .Select(j => new Request(j * (Nodes / HoldersRequests), Body(new HoldersRequest(files[random.Next(Files)].Id, TrackerLimits.MaxResults), TrackerJson.Default.HoldersRequest)))
            .ToArray();
        var peers = Enumerable.Range(0, PeersRequests)
            .Select(j => new Request(j % Nodes, Body(new PeersRequest(null, PeersLimit), TrackerJson.Default.PeersRequest)))
            .ToArray();

        return
        [
            new("register", TrackerPaths.Announce, register, "", Announced),
            new("heartbeat", TrackerPaths.Announce, heartbeat, "", Announced),
            new("files", TrackerPaths.Files, search, "files", a => (Parse(a, TrackerJson.Default.FilesResponse).Files.Count, null)),
            new("holders", TrackerPaths.Holders, holders, "holders", a => (Parse(a, TrackerJson.Default.HoldersResponse).Holders.Count, null)),
            new("peers", TrackerPaths.Peers, peers, "peers", a => (Parse(a, TrackerJson.Default.PeersResponse).Peers.Count, null)),
        ];
    }

    private static (int, string?) Announced(byte[] answer) =>
        (0, Parse(answer, TrackerJson.Default.AnnounceResponse).NeedsReset ? "the tracker did not know the node (its registration expired?)" : null);

    private static byte[] Body<T>(T request, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(request, type);

    private static T Parse<T>(byte[] answer, JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(answer, type) ?? throw new BenchException("the tracker answered null");

    private static async Task<List<PhaseResult>> RunBackendAsync(
        BenchContext context, string backend, string database, Func<long>? databaseTicks, Load load, CancellationToken cancellationToken)
    {
        using var tracker = NodeProcess.StartCommand(
            context.Shoal,
            $"tracker on {backend}",
            ["tracker", "--listen", "127.0.0.1:0", "--db", database, "--interval", IntervalSeconds.ToString(CultureInfo.InvariantCulture)]);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency, UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { Timeout = context.Timeout };
        var url = await WaitUntilUpAsync(tracker, http, context.Timeout, cancellationToken).ConfigureAwait(false);
        var run = new BackendRun(backend, tracker, http, url, databaseTicks, context.ClockTicks, load);

        // Opens the connections and runs the request path once before anything is timed; peers needs no registration.
        var warmUp = Enumerable.Range(0, 2 * Concurrency).Select(i => new Request(i, Body(new PeersRequest(null, PeersLimit), TrackerJson.Default.PeersRequest))).ToArray();
        await RunPhaseAsync(run, new Phase("warm-up", TrackerPaths.Peers, warmUp, "", _ => (0, null)), cancellationToken).ConfigureAwait(false);

        var results = new List<PhaseResult>();
        foreach (var phase in load.Phases)
        {
            var result = await RunPhaseAsync(run, phase, cancellationToken).ConfigureAwait(false);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tracker: {backend} {phase.Name}: {result.Requests / result.Seconds:F0} requests/s, p99 {FolderScenario.Percentile(result.Latencies, 0.99):F1} ms"));
            results.Add(result);
        }

        return results;
    }

    private static async Task<Uri> WaitUntilUpAsync(NodeProcess tracker, HttpClient http, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Uri? url = null;
        await FolderScenario.WaitAsync(
            async () =>
            {
                tracker.ThrowIfExited("while starting");
                if (url is null && UpLine().Match(tracker.Tail()) is { Success: true } match) url = new Uri(match.Groups[1].Value);
                if (url is null) return false;
                using var health = await http.GetAsync(new Uri(url, TrackerPaths.Health), cancellationToken).ConfigureAwait(false);
                return health.StatusCode == HttpStatusCode.OK;
            },
            "the tracker to answer /healthz",
            timeout,
            cancellationToken,
            TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
        return url!;
    }

    private static async Task<PhaseResult> RunPhaseAsync(BackendRun run, Phase phase, CancellationToken cancellationToken)
    {
        var count = phase.Requests.Length;
        var target = new Uri(run.Url, phase.Path);
        var stats = new PhaseStats(count, Math.Max(1, count / SampledAnswers));
        double sendSeconds = 0, signSeconds = 0;
        long trackerTicks = 0, databaseTicks = 0, clientTicks = 0;
        for (int start = 0, round = FirstRound; start < count; start += round)
        {
            var clock = Stopwatch.StartNew();
            var messages = Sign(run.Load, target, phase.Requests.AsSpan(start, Math.Min(round, count - start)).ToArray());
            signSeconds += clock.Elapsed.TotalSeconds;

            var (tracker, database, client) = (run.Tracker.CpuTicks(), run.DatabaseTicks?.Invoke() ?? 0, SelfTicks());
            clock.Restart();
            await SendAsync(run, messages, start, stats, cancellationToken).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            sendSeconds += seconds;
            trackerTicks += run.Tracker.CpuTicks() - tracker;
            databaseTicks += (run.DatabaseTicks?.Invoke() ?? 0) - database;
            clientTicks += SelfTicks() - client;
            if (stats.Errors > 0)
            {
                throw new BenchException($"tracker on {run.Backend}, {phase.Name}: {stats.Errors} of {messages.Length} requests failed; the first answered {stats.FirstError}");
            }

            round = (int)Math.Clamp(messages.Length / seconds * RoundTarget.TotalSeconds, Concurrency, MaxRound);
        }

        var counts = new List<int>();
        foreach (var answer in stats.Samples)
        {
            var (n, problem) = phase.Inspect(answer);
            if (problem is not null) throw new BenchException($"tracker on {run.Backend}, {phase.Name}: {problem}: {Encoding.UTF8.GetString(answer)}");
            counts.Add(n);
        }

        var kilobytes = stats.ResponseBytes / (double)count / 1000;
        var answerText = phase.Unit.Length == 0 ? $"{kilobytes:F2} KB" : $"{counts.Average():F1} {phase.Unit}, {kilobytes:F1} KB";
        Array.Sort(stats.Latencies);
        return new PhaseResult(
            run.Backend,
            phase.Name,
            count,
            sendSeconds,
            stats.Latencies,
            answerText,
            trackerTicks / (double)run.ClockTicks,
            run.DatabaseTicks is null ? null : databaseTicks / (double)run.ClockTicks,
            clientTicks / (double)run.ClockTicks,
            run.Tracker.StatusBytes("VmHWM"))
        { SignSeconds = signSeconds };
    }

    /// <summary>Signs every request on one thread per network key: a signer and its key are only ever used by one thread.</summary>
    private static HttpRequestMessage[] Sign(Load load, Uri target, Request[] requests)
    {
        var messages = new HttpRequestMessage[requests.Length];
        Parallel.For(0, load.SigningThreads, thread =>
        {
            for (var j = 0; j < requests.Length; j++)
            {
                var (node, body) = requests[j];
                if (node % load.SigningThreads != thread) continue;
                var message = new HttpRequestMessage(HttpMethod.Post, target) { Content = new ByteArrayContent(body) };
                message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                foreach (var (name, value) in load.Signers[node].Sign("POST", target.PathAndQuery, target.Authority, body)) message.Headers.TryAddWithoutValidation(name, value);
                messages[j] = message;
            }
        });
        return messages;
    }

    private static async Task SendAsync(BackendRun run, HttpRequestMessage[] messages, int offset, PhaseStats stats, CancellationToken cancellationToken)
    {
        var next = -1;
        async Task WorkAsync()
        {
            for (var j = Interlocked.Increment(ref next); j < messages.Length; j = Interlocked.Increment(ref next))
            {
                using var message = messages[j];
                var started = Stopwatch.GetTimestamp();
                byte[] answer;
                HttpStatusCode status;
                try
                {
                    using var response = await run.Http.SendAsync(message, cancellationToken).ConfigureAwait(false);
                    answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                    status = response.StatusCode;
                }
                catch (HttpRequestException e)
                {
                    run.Tracker.ThrowIfExited("while answering");
                    throw new BenchException($"tracker on {run.Backend}: {message.RequestUri?.AbsolutePath} failed: {e.Message}");
                }

                stats.Record(offset + j, Stopwatch.GetElapsedTime(started).TotalMilliseconds, status, answer);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => WorkAsync())).ConfigureAwait(false);
    }

    private static long SelfTicks() => NodeProcess.CpuTicks(NodeProcess.Stat(Environment.ProcessId));

    /// <summary>
    /// PostgreSQL's CPU: the postmaster's, its children's that ended (cutime, cstime) and its live children's (the
    /// backends serving the tracker's connections, the WAL writer, the checkpointer, autovacuum).
    /// </summary>
    private static long ServerTicks(int postmaster)
    {
        var stat = NodeProcess.Stat(postmaster);
        var ticks = NodeProcess.CpuTicks(stat) + long.Parse(stat[13], CultureInfo.InvariantCulture) + long.Parse(stat[14], CultureInfo.InvariantCulture);
        var parent = postmaster.ToString(CultureInfo.InvariantCulture);
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), CultureInfo.InvariantCulture, out var pid)) continue;
            try
            {
                var child = NodeProcess.Stat(pid);
                if (child[1] == parent) ticks += NodeProcess.CpuTicks(child);
            }
            catch (IOException)
            {
                // Ended meanwhile: its time is in the postmaster's cutime from now on.
            }
        }

        return ticks;
    }

    [GeneratedRegex(@"is up on (http://\S+)")]
    private static partial Regex UpLine();

    private readonly record struct Request(int Node, byte[] Body);

    /// <param name="Inspect">A sampled answer's count of <paramref name="Unit"/>, or what is wrong with it.</param>
    private sealed record Phase(string Name, string Path, Request[] Requests, string Unit, Func<byte[], (int Count, string? Problem)> Inspect);

    private sealed record Load(TrackerRequestSigner[] Signers, int SigningThreads, IReadOnlyList<Phase> Phases);

    private sealed record BackendRun(string Backend, NodeProcess Tracker, HttpClient Http, Uri Url, Func<long>? DatabaseTicks, int ClockTicks, Load Load);

    /// <param name="Latencies">Milliseconds, sorted.</param>
    /// <param name="DatabaseCpuSeconds">Null when the database runs inside the tracker (SQLite).</param>
    private sealed record PhaseResult(
        string Backend,
        string Phase,
        int Requests,
        double Seconds,
        double[] Latencies,
        string Answer,
        double TrackerCpuSeconds,
        double? DatabaseCpuSeconds,
        double ClientCpuSeconds,
        long PeakRssBytes)
    {
        public double SignSeconds { get; init; }
    }

    /// <summary>What the workers of one phase record; every request writes its own latency slot.</summary>
    private sealed class PhaseStats(int count, int sampleEvery)
    {
        private readonly Lock _lock = new();
        private long _responseBytes;
        private int _errors;

        public double[] Latencies { get; } = new double[count];

        public List<byte[]> Samples { get; } = [];

        public long ResponseBytes => Interlocked.Read(ref _responseBytes);

        public int Errors => Volatile.Read(ref _errors);

        public string? FirstError { get; private set; }

        public void Record(int index, double milliseconds, HttpStatusCode status, byte[] answer)
        {
            Latencies[index] = milliseconds;
            Interlocked.Add(ref _responseBytes, answer.Length);
            var failed = status != HttpStatusCode.OK;
            if (failed) Interlocked.Increment(ref _errors);
            if (!failed && index % sampleEvery != 0) return;
            lock (_lock)
            {
                if (failed) FirstError ??= $"{(int)status}: {Encoding.UTF8.GetString(answer)}";
                else Samples.Add(answer);
            }
        }
    }
}
