using Shoal.Sync.Scanning;

namespace Shoal.Sync.Tests.Scanning;

public sealed class FolderWatcherTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly TestFolder _folder = new();
    private readonly Batches _batches = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Creations_changes_deletions_and_renames_are_reported()
    {
        _folder.Write("old.txt", "old");
        _folder.Write("gone.txt", "gone");
        _folder.Write("sub/from.txt", "from");
        using var watcher = Start();

        _folder.Write("new.txt", "new");
        File.AppendAllText(_folder.Full("old.txt"), " and more");
        File.Delete(_folder.Full("gone.txt"));
        File.Move(_folder.Full("sub/from.txt"), _folder.Full("sub/to.txt"));
        _folder.CreateDirectory("dir");

        await _batches.WaitForAsync(paths => paths.IsSupersetOf(["new.txt", "old.txt", "gone.txt", "sub/from.txt", "sub/to.txt", "dir"]));
    }

    [Fact]
    public async Task A_burst_of_files_comes_in_few_batches_each_path_once()
    {
        using var watcher = Start(quiet: TimeSpan.FromMilliseconds(300), maxDelay: TimeSpan.FromSeconds(10));
        var expected = Enumerable.Range(0, 200).Select(i => $"f{i:D3}.txt").ToArray();

        foreach (var path in expected)
        {
            var full = _folder.Write(path, "first");
            File.AppendAllText(full, " second");
        }

        await _batches.WaitForAsync(paths => paths.IsSupersetOf(expected));
        var batches = _batches.Snapshot();
        Assert.InRange(batches.Count, 1, 3);
        Assert.All(batches, batch => Assert.Equal(batch.Length, batch.Distinct().Count()));
    }

    [Fact]
    public async Task Temp_files_are_not_reported()
    {
        using var watcher = Start();

        var temp = _folder.Write(FolderPath.TempPrefix + "abc.final.txt", "partial");
        File.AppendAllText(temp, " rest");
        File.Move(temp, _folder.Full("final.txt"));

        await _batches.WaitForAsync(paths => paths.Contains("final.txt"));
        Assert.DoesNotContain(_batches.Snapshot().SelectMany(b => b), p => p.Contains(FolderPath.TempPrefix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_that_keeps_changing_is_reported_after_the_maximum_delay()
    {
        using var watcher = Start(quiet: TimeSpan.FromMilliseconds(500), maxDelay: TimeSpan.FromSeconds(1));
        var full = _folder.Write("growing.log", "");
        var reported = _batches.WaitForAsync(paths => paths.Contains("growing.log"));

        // Appends far closer together than the quiet time: only the maximum delay can get the file reported.
        var appends = 0;
        while (!reported.IsCompleted && appends < 400)
        {
            File.AppendAllText(full, "line\n");
            appends++;
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        await reported;
    }

    private FolderWatcher Start(TimeSpan? quiet = null, TimeSpan? maxDelay = null)
    {
        var watcher = new FolderWatcher(_folder.Root, TimeProvider.System, quiet, maxDelay);
        watcher.Changed += _batches.Add;
        watcher.Start();
        return watcher;
    }

    /// <summary>Every batch the watcher reported, with a way to wait for the paths a test expects.</summary>
    private sealed class Batches
    {
        private readonly Lock _gate = new();
        private readonly List<string[]> _batches = [];
        private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Add(IReadOnlyCollection<string> batch)
        {
            TaskCompletionSource arrived;
            lock (_gate)
            {
                _batches.Add([.. batch]);
                arrived = _arrived;
                _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            arrived.SetResult();
        }

        public List<string[]> Snapshot()
        {
            lock (_gate) return [.. _batches];
        }

        public async Task WaitForAsync(Func<HashSet<string>, bool> condition)
        {
            var deadline = DateTime.UtcNow + Patience;
            while (true)
            {
                Task arrived;
                HashSet<string> paths;
                lock (_gate)
                {
                    paths = [.. _batches.SelectMany(b => b)];
                    arrived = _arrived.Task;
                }

                if (condition(paths)) return;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) Assert.Fail($"Not reported in time; reported so far: {string.Join(", ", paths.Order())}");
                await Task.WhenAny(arrived, Task.Delay(left));
            }
        }
    }
}
