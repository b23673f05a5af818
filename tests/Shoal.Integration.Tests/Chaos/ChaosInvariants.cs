using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Shoal.Integration.Tests.Support;
using Shoal.Node.Api;
using Shoal.Node.Home;
using Shoal.Sync;

namespace Shoal.Integration.Tests.Chaos;

/// <summary>
/// After the chaos: every node up and every link clear, the network is given time to settle, then everything the
/// workload did is checked. Each broken invariant is one line of the result; none means the run passed.
/// </summary>
internal sealed class ChaosInvariants(ChaosCluster cluster, ChaosWorkload workload, int seed, Action<string> log)
{
    private readonly List<string> _failures = [];

    public async Task<IReadOnlyList<string>> CheckAsync(TimeSpan settleTimeout)
    {
        foreach (var proxy in cluster.Proxies) proxy.Clear();
        for (var i = 0; i < cluster.Count; i++)
        {
            if (cluster.Running(i) is null) await cluster.StartNodeAsync(i);
        }

        await WaitAsync(FullMeshAsync, "every node to see every other online", settleTimeout);
        foreach (var node in Nodes()) (await node.Api.PostAsync("api/folder/scan", null)).EnsureSuccessStatusCode();
        var settled = await WaitAsync(SettledAsync, "downloads, folders and puts to settle", settleTimeout);
        log(settled ? "settled" : "did not settle; checking what there is");

        await CheckDownloadsAsync();
        await CheckPutsAsync(settleTimeout);
        CheckFolders();
        CheckChunkStores();

        // A crash at the end, like every kill during the run: the databases must open and be whole after it.
        for (var i = 0; i < cluster.Count; i++) await cluster.KillAsync(i);
        CheckDatabases();
        return _failures;
    }

    private IEnumerable<NodeProcess> Nodes() => Enumerable.Range(0, cluster.Count).Select(i => cluster.Running(i)!);

    private void Fail(string what)
    {
        log("FAILED: " + what);
        _failures.Add(what);
    }

    /// <summary>Polls until true; on timeout, records what the last poll said was missing and returns false.</summary>
    private async Task<bool> WaitAsync(Func<Task<string?>> missing, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string? last;
        while ((last = await missing()) is not null)
        {
            if (DateTime.UtcNow > deadline)
            {
                Fail($"timed out after {timeout.TotalSeconds:0} s waiting for {what}: {last}");
                return false;
            }

            await Task.Delay(500);
        }

        return true;
    }

    private async Task<string?> FullMeshAsync()
    {
        for (var i = 0; i < cluster.Count; i++)
        {
            var peers = (await cluster.Running(i)!.Api.GetFromJsonAsync("api/peers", ApiJson.Default.IReadOnlyListPeerDto))!;
            var online = peers.Count(p => p.Online);
            if (online < cluster.Count - 1) return $"n{i} sees {online} of {cluster.Count - 1} online";
        }

        return null;
    }

    private async Task<string?> SettledAsync()
    {
        foreach (var download in workload.Downloads)
        {
            // A node lists the downloads of its current run: one completed before a restart is only on disk.
            var transfer = await TransferAsync(download.Node, download.Id);
            if (transfer is null ? !File.Exists(Downloaded(download)) : transfer.State != "completed")
            {
                return $"n{download.Node}'s download of share #{download.Share} is {transfer?.State ?? "unknown to it and not on disk"} ({transfer?.Error})";
            }
        }

        for (var i = 0; i < cluster.Count; i++)
        {
            var folder = (await cluster.Running(i)!.Api.GetFromJsonAsync("api/folder", ApiJson.Default.FolderDto))!;
            if (folder.State != "idle" || folder.NeedFiles > 0) return $"n{i}'s folder is {folder.State} with {folder.NeedFiles} to pull ({folder.Problem})";
        }

        var first = FolderSnapshot.Take(cluster.Folder(0), hash: false);
        for (var i = 1; i < cluster.Count; i++)
        {
            if (FolderSnapshot.Take(cluster.Folder(i), hash: false).Difference(first) is { } difference) return $"n{i}'s folder differs from n0's: {difference}";
        }

        foreach (var put in workload.Puts)
        {
            for (var i = 0; i < cluster.Count; i++)
            {
                var health = (await cluster.Running(i)!.Api.GetFromJsonAsync("api/put/files", ApiJson.Default.IReadOnlyListPutHealthDto))!;
                var copies = health.FirstOrDefault(h => h.Id == put.Id)?.Copies;
                if (copies is null || copies < put.Replicas) return $"n{i} counts {copies?.ToString() ?? "no"} copies of put #{put.Number} (asked {put.Replicas})";
            }
        }

        return null;
    }

    private async Task<TransferDto?> TransferAsync(int node, string id)
    {
        var response = await cluster.Running(node)!.Api.GetAsync($"api/downloads/{id}");
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync(ApiJson.Default.TransferDto) : null;
    }

    /// <summary>Every download completed and matches its id; whatever sits in a download directory is a share, whole.</summary>
    private async Task CheckDownloadsAsync()
    {
        var shares = workload.Shares.ToDictionary(s => s.Name);
        foreach (var download in workload.Downloads)
        {
            var path = Downloaded(download);
            if (!File.Exists(path)) Fail($"n{download.Node}'s download of share #{download.Share} is not at {path}");
            else if (TestFiles.Sha256(path) != Share(download).Sha256) Fail($"n{download.Node}'s download of share #{download.Share} does not match its id: {path}");
        }

        for (var i = 0; i < cluster.Count; i++)
        {
            foreach (var file in Directory.EnumerateFiles(cluster.Scratch(i, "downloads")))
            {
                var name = Path.GetFileName(file);
                if (!shares.TryGetValue(name, out var share)) Fail($"n{i} has {name} in its download directory, which is no share's name (a partial or temp file?)");
                else if (TestFiles.Sha256(file) != share.Sha256) Fail($"n{i}'s {name} is not the content of share #{share.Number}");
            }
        }
    }

    private SharedRecord Share(DownloadRecord download) => workload.Shares.Single(s => s.Number == download.Share);

    /// <summary>Where a download ends: each node asks for a share once, into its own directory, under the share's name.</summary>
    private string Downloaded(DownloadRecord download) => Path.Combine(cluster.Scratch(download.Node, "downloads"), Share(download).Name);

    /// <summary>Every put file comes back whole, fetched by a node other than the one that put it.</summary>
    private async Task CheckPutsAsync(TimeSpan timeout)
    {
        var random = new Random(seed);
        foreach (var put in workload.Puts)
        {
            var fetcher = (put.Node + 1 + random.Next(cluster.Count - 1)) % cluster.Count;
            var api = cluster.Running(fetcher)!.Api;
            var response = await api.PostAsJsonAsync("api/downloads", new GetRequest(put.Link, cluster.Scratch(fetcher, "retrieved")), ApiJson.Default.GetRequest);
            if (!response.IsSuccessStatusCode)
            {
                Fail($"n{fetcher} cannot get put #{put.Number}: {await response.Content.ReadAsStringAsync()}");
                continue;
            }

            TransferDto? done = null;
            if (!await WaitAsync(async () => (done = await TransferAsync(fetcher, put.Id)) is { State: "completed" } ? null : $"state {done?.State} ({done?.Error})", $"n{fetcher} to retrieve put #{put.Number}", timeout))
            {
                continue;
            }

            if (TestFiles.Sha256(done!.Path!) != put.Sha256) Fail($"put #{put.Number} came back different on n{fetcher}");
        }
    }

    /// <summary>Every folder the same; every content written still there somewhere unless the workload itself replaced or deleted it.</summary>
    private void CheckFolders()
    {
        var snapshots = Enumerable.Range(0, cluster.Count).Select(i => FolderSnapshot.Take(cluster.Folder(i), hash: true)).ToList();
        for (var i = 1; i < cluster.Count; i++)
        {
            if (snapshots[i].Difference(snapshots[0]) is { } difference) Fail($"n{i}'s folder differs from n0's: {difference}");
        }

        // Not an invariant: a pull interrupted by a kill leaves its temp file for the next pull of that content to
        // reuse, and nothing removes it when no pull wants it again (disk space lost, nothing wrong on any final name).
        for (var i = 0; i < cluster.Count; i++)
        {
            foreach (var temp in snapshots[i].Temps) log($"note: n{i} keeps a temp file in its folder: {temp}");
        }

        var superseded = workload.Superseded;
        var present = snapshots.SelectMany(s => s.Files.Values).ToHashSet();
        foreach (var write in workload.Writes)
        {
            if (superseded.ContainsKey(write.Sha256)) continue;
            var missingOn = Enumerable.Range(0, cluster.Count).Where(i => !snapshots[i].Files.ContainsValue(write.Sha256)).ToList();
            if (missingOn.Count == 0) continue;
            Fail($"write #{write.Number} ({write.Sha256[..8]}, {write.Path} on n{write.Node} at {write.At.TotalSeconds:0.00}s) is lost on {string.Join(", ", missingOn.Select(n => $"n{n}"))}"
                + (present.Contains(write.Sha256) ? "" : " (everywhere)"));
        }

        log($"folders: {snapshots[0].Files.Count} files, {workload.Writes.Count} writes, {superseded.Count} replaced or deleted by the workload");
    }

    /// <summary>A store keeps a chunk only under its own hash.</summary>
    private void CheckChunkStores()
    {
        for (var i = 0; i < cluster.Count; i++)
        {
            var store = new NodeHome(cluster.Home(i)).StoreDirectory;
            if (!Directory.Exists(store)) continue;
            foreach (var file in Directory.EnumerateFiles(store, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal)))
            {
                using var stream = File.OpenRead(file);
                if (Convert.ToHexStringLower(SHA256.HashData(stream)) != Path.GetFileName(file)) Fail($"n{i}'s chunk store holds {file} with other content");
            }
        }
    }

    private void CheckDatabases()
    {
        for (var i = 0; i < cluster.Count; i++)
        {
            using var connection = new SqliteConnection($"Data Source={new NodeHome(cluster.Home(i)).DatabasePath};Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            var result = command.ExecuteScalar() as string;
            if (result != "ok") Fail($"n{i}'s database is corrupt: {result}");
        }
    }

    /// <summary>A folder's files by relative path (with sizes, or hashes), its directories, and Shoal temp files apart.</summary>
    private sealed record FolderSnapshot(Dictionary<string, string> Files, SortedSet<string> Directories, List<string> Temps)
    {
        public static FolderSnapshot Take(string root, bool hash)
        {
            var snapshot = new FolderSnapshot([], new SortedSet<string>(StringComparer.Ordinal), []);
            foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(root, entry.FullName);
                try
                {
                    if (entry is DirectoryInfo) snapshot.Directories.Add(relative);
                    else if (FolderPath.IsTempName(entry.Name)) snapshot.Temps.Add(relative);
                    else snapshot.Files[relative] = hash ? TestFiles.Sha256(entry.FullName) : ((FileInfo)entry).Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // Replaced while we looked: the next look sees the new one.
                    snapshot.Files[relative] = "(changing)";
                }
            }

            return snapshot;
        }

        /// <summary>The first difference from <paramref name="other"/>, or null if they are the same.</summary>
        public string? Difference(FolderSnapshot other)
        {
            foreach (var (path, value) in Files)
            {
                if (!other.Files.TryGetValue(path, out var theirs)) return $"{path} is only here";
                if (theirs != value) return $"{path} is {Short(value)} here, {Short(theirs)} there";
            }

            if (other.Files.Keys.FirstOrDefault(p => !Files.ContainsKey(p)) is { } missing) return $"{missing} is missing here";
            return Directories.SetEquals(other.Directories) ? null : $"directories {string.Join(",", Directories)} here, {string.Join(",", other.Directories)} there";
        }

        private static string Short(string value) => value.Length > 8 ? value[..8] : value;
    }
}
