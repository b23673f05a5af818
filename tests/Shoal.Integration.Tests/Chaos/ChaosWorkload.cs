using System.Diagnostics;
using System.Net.Http.Json;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;

namespace Shoal.Integration.Tests.Chaos;

internal sealed record SharedRecord(int Number, int Node, string Link, string Id, string Name, string Sha256);

internal sealed record DownloadRecord(int Node, int Share, string Id);

internal sealed record PutRecord(int Number, int Node, string Link, string Id, string Sha256, int Replicas);

internal sealed record FolderWrite(int Number, int Node, string Path, string Sha256, TimeSpan At);

/// <summary>
/// Runs a schedule against a <see cref="ChaosCluster"/> and keeps the ledger the invariants are checked against:
/// what was shared, asked for and put, and every content written to a folder and what the workload itself replaced.
/// An operation on a node that is down, or killed under it, is skipped and logged: it is part of the chaos, not a
/// failure. What the nodes must get right is checked afterwards.
/// </summary>
internal sealed class ChaosWorkload(ChaosCluster cluster, int seed, Action<string> log)
{
    private const int PutReplicas = 2;

    private readonly Lock _gate = new();
    private readonly Dictionary<int, SharedRecord> _shares = [];
    private readonly HashSet<(int Node, int Share)> _asked = [];
    private readonly List<DownloadRecord> _downloads = [];
    private readonly List<PutRecord> _puts = [];
    private readonly List<FolderWrite> _writes = [];
    private readonly Dictionary<string, string> _superseded = [];
    private readonly Dictionary<(int, int), int> _faultGenerations = [];
    private readonly List<Task> _running = [];
    private readonly Stopwatch _clock = new();

    public IReadOnlyCollection<SharedRecord> Shares
    {
        get
        {
            lock (_gate) return [.. _shares.Values];
        }
    }

    public IReadOnlyList<DownloadRecord> Downloads
    {
        get
        {
            lock (_gate) return [.. _downloads];
        }
    }

    public IReadOnlyList<PutRecord> Puts
    {
        get
        {
            lock (_gate) return [.. _puts];
        }
    }

    public IReadOnlyList<FolderWrite> Writes
    {
        get
        {
            lock (_gate) return [.. _writes];
        }
    }

    /// <summary>Content the workload took out of a folder itself (replaced or deleted), with how.</summary>
    public IReadOnlyDictionary<string, string> Superseded
    {
        get
        {
            lock (_gate) return new Dictionary<string, string>(_superseded);
        }
    }

    private int _failures;

    /// <summary>Operations that failed in a way no fault explains (a node that does not start again, say).</summary>
    public int Failures => Volatile.Read(ref _failures);

    public async Task RunAsync(IReadOnlyList<ChaosEvent> events)
    {
        _clock.Start();
        foreach (var chaosEvent in events)
        {
            var wait = chaosEvent.At - _clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            Execute(chaosEvent);
        }

        log($"schedule done at {_clock.Elapsed.TotalSeconds:0.0}s; waiting for {_running.Count(t => !t.IsCompleted)} operations still running");
        await Task.WhenAll(_running).WaitAsync(TimeSpan.FromMinutes(5));
    }

    private void Execute(ChaosEvent chaosEvent)
    {
        switch (chaosEvent)
        {
            // Folder changes are made on disk, at once and in order, whether the node runs or not.
            case WriteInFolder write:
                Attempt(write, () => Write(write));
                break;
            case DeleteInFolder delete:
                Attempt(delete, () => Delete(delete));
                break;
            case RenameInFolder rename:
                Attempt(rename, () => Rename(rename));
                break;
            case LinkFault fault:
                Fault(fault);
                break;
            default:
                _running.Add(AttemptAsync(chaosEvent));
                break;
        }
    }

    private void Attempt(ChaosEvent chaosEvent, Func<string> action)
    {
        try
        {
            log($"{Stamp(chaosEvent)}: {action()}");
        }
        catch (IOException e)
        {
            log($"{Stamp(chaosEvent)}: failed: {e.Message}");
        }
    }

    private async Task AttemptAsync(ChaosEvent chaosEvent)
    {
        try
        {
            var outcome = chaosEvent switch
            {
                KillNode kill => await KillAsync(kill),
                ShareFile share => await ShareAsync(share),
                GetFile get => await GetAsync(get),
                PutFile put => await PutAsync(put),
                _ => throw new InvalidOperationException($"unknown event {chaosEvent}"),
            };
            log($"{Stamp(chaosEvent)}: {outcome}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or ObjectDisposedException or IOException)
        {
            // The node went down under the call (or refused it): what it did or not is checked at the end.
            log($"{Stamp(chaosEvent)}: no answer: {e.GetType().Name}: {e.Message}");
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            Interlocked.Increment(ref _failures);
            log($"{Stamp(chaosEvent)}: FAILED: {e}");
        }
    }

    private string Stamp(ChaosEvent chaosEvent) => $"{_clock.Elapsed.TotalSeconds,7:0.00}s {chaosEvent}";

    private async Task<string> KillAsync(KillNode kill)
    {
        if (!await cluster.KillAsync(kill.Node)) return "already down";
        log($"{Stamp(kill)}: killed");
        await Task.Delay(kill.DownFor);
        await cluster.StartNodeAsync(kill.Node);
        return "restarted";
    }

    private async Task<string> ShareAsync(ShareFile share)
    {
        if (cluster.Running(share.Node) is not { } node) return "skipped: node down";
        var path = TestFiles.Create(Path.Combine(cluster.Scratch(share.Node, "shares"), $"s{share.Number}.bin"), share.Size, ContentSeed(1, share.Number));
        var response = await node.Api.PostAsJsonAsync("api/share", new ShareRequest([path]), ApiJson.Default.ShareRequest);
        response.EnsureSuccessStatusCode();
        var shared = (await response.Content.ReadFromJsonAsync(ApiJson.Default.IReadOnlyListSharedFileDto))!.Single();
        lock (_gate) _shares[share.Number] = new SharedRecord(share.Number, share.Node, shared.Link, shared.Id, shared.Name, TestFiles.Sha256(path));
        return $"shared {shared.Id[..8]}";
    }

    private async Task<string> GetAsync(GetFile get)
    {
        SharedRecord? share;
        lock (_gate)
        {
            if (!_shares.TryGetValue(get.Share, out share)) return "skipped: not shared (yet)";
            if (share.Node == get.Node || !_asked.Add((get.Node, get.Share))) return "skipped: its own or asked before";
        }

        if (cluster.Running(get.Node) is not { } node) return "skipped: node down";
        var response = await node.Api.PostAsJsonAsync("api/downloads", new GetRequest(share.Link, cluster.Scratch(get.Node, "downloads")), ApiJson.Default.GetRequest);
        response.EnsureSuccessStatusCode();
        var transfer = (await response.Content.ReadFromJsonAsync(ApiJson.Default.TransferDto))!;
        lock (_gate) _downloads.Add(new DownloadRecord(get.Node, get.Share, transfer.Id));
        return $"downloading {transfer.Id[..8]}";
    }

    private async Task<string> PutAsync(PutFile put)
    {
        if (cluster.Running(put.Node) is not { } node) return "skipped: node down";
        var path = TestFiles.Create(Path.Combine(cluster.Scratch(put.Node, "puts"), $"p{put.Number}.bin"), put.Size, ContentSeed(2, put.Number));
        var response = await node.Api.PostAsJsonAsync("api/put", new PutRequest([path], PutReplicas), ApiJson.Default.PutRequest);
        response.EnsureSuccessStatusCode();
        var stored = (await response.Content.ReadFromJsonAsync(ApiJson.Default.IReadOnlyListPutFileDto))!.Single();
        lock (_gate) _puts.Add(new PutRecord(put.Number, put.Node, stored.Link, stored.Id, TestFiles.Sha256(path), PutReplicas));
        return $"put {stored.Id[..8]} with {stored.Copies} copies";
    }

    private string Write(WriteInFolder write)
    {
        var staged = TestFiles.Create(Path.Combine(cluster.Scratch(write.Node, "staging"), $"w{write.Number}"), write.Size, ContentSeed(3, write.Number));
        var sha = TestFiles.Sha256(staged);
        var replaced = AtomicFolderOps.Place(staged, Path.Combine(cluster.Folder(write.Node), write.Path));
        lock (_gate)
        {
            _writes.Add(new FolderWrite(write.Number, write.Node, write.Path, sha, _clock.Elapsed));
            if (replaced is not null) _superseded.TryAdd(replaced, $"replaced by write #{write.Number} on n{write.Node}");
        }

        return $"wrote {sha[..8]}{(replaced is null ? "" : $", replacing {replaced[..8]}")}";
    }

    private string Delete(DeleteInFolder delete)
    {
        var scratch = Path.Combine(cluster.Scratch(delete.Node, "staging"), $"deleted-{Guid.NewGuid():N}");
        var removed = AtomicFolderOps.Remove(Path.Combine(cluster.Folder(delete.Node), delete.Path), scratch);
        if (removed is null) return "nothing there";
        lock (_gate) _superseded.TryAdd(removed, $"deleted from {delete.Path} on n{delete.Node}");
        return $"deleted {removed[..8]}";
    }

    private string Rename(RenameInFolder rename)
    {
        if (rename.From == rename.To) return "skipped: same name";
        var folder = cluster.Folder(rename.Node);
        return AtomicFolderOps.Move(Path.Combine(folder, rename.From), Path.Combine(folder, rename.To)) ? "renamed" : "skipped: source missing or target taken";
    }

    /// <summary>Applies a fault to both proxies of a pair, and clears them after its hold unless a newer fault took over.</summary>
    private void Fault(LinkFault fault)
    {
        int generation;
        lock (_gate) generation = _faultGenerations[(fault.A, fault.B)] = _faultGenerations.GetValueOrDefault((fault.A, fault.B)) + 1;
        foreach (var proxy in cluster.Link(fault.A, fault.B)) fault.Action.Apply(proxy);
        log($"{Stamp(fault)}: applied");
        _running.Add(ClearLaterAsync(fault, generation));
    }

    private async Task ClearLaterAsync(LinkFault fault, int generation)
    {
        await Task.Delay(fault.Hold);
        lock (_gate)
        {
            if (_faultGenerations[(fault.A, fault.B)] != generation) return;
        }

        foreach (var proxy in cluster.Link(fault.A, fault.B)) proxy.Clear();
    }

    /// <summary>Distinct content per kind and number, different for every seed.</summary>
    private int ContentSeed(int kind, int number) => unchecked((seed * 1_000_003) + (kind * 100_003) + number);
}
