namespace Shoal.Sync.Scanning;

/// <summary>
/// Turns file-system notifications under a folder into batches of changed folder paths for a partial scan.
/// A batch is reported once the folder has been quiet for <c>quiet</c>, so a burst of a thousand new files comes
/// as one batch and a file being written is reported once it settles. While changes keep coming, no path waits
/// longer than <c>maxDelay</c>: then every path that has waited that long or has itself been quiet is reported.
/// </summary>
/// <remarks>
/// Notifications are hints, not a complete record: the OS may drop them (<see cref="Overflowed"/>), and a
/// directory created with files already in it may be reported without them, which a scan of the directory covers.
/// </remarks>
public sealed class FolderWatcher : IDisposable
{
    private readonly string _root;
    private readonly TimeProvider _time;
    private readonly TimeSpan _quiet;
    private readonly TimeSpan _maxDelay;
    private readonly FileSystemWatcher _watcher;
    private readonly ITimer _timer;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);

    private long _lastEvent;

    /// <summary>True while the timer is due or a batch is being delivered; a new event then needs no timer of its own.</summary>
    private bool _armed;

    private bool _disposed;

    public FolderWatcher(string root, TimeProvider time, TimeSpan? quiet = null, TimeSpan? maxDelay = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(time);
        _quiet = quiet ?? TimeSpan.FromMilliseconds(50);
        _maxDelay = maxDelay ?? TimeSpan.FromSeconds(1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_quiet, TimeSpan.Zero, nameof(quiet));
        ArgumentOutOfRangeException.ThrowIfLessThan(_maxDelay, _quiet, nameof(maxDelay));

        _root = Path.GetFullPath(root);
        _time = time;
        _watcher = new FileSystemWatcher(_root)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.Size
                | NotifyFilters.LastWrite | NotifyFilters.Attributes,

            // The documented maximum; a burst beyond it is lost and reported through Overflowed.
            InternalBufferSize = 64 * 1024,
        };
        _watcher.Created += OnChanged;
        _watcher.Changed += OnChanged;
        _watcher.Deleted += OnChanged;
        _watcher.Renamed += OnRenamed;
        _watcher.Error += OnError;
        _timer = time.CreateTimer(static state => ((FolderWatcher)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Folder paths ('/'-separated) that changed, each once per batch. Raised on a timer thread, one batch at a time.</summary>
    public event Action<IReadOnlyCollection<string>>? Changed;

    /// <summary>Notifications were lost (or watching failed): only a full scan finds what changed.</summary>
    public event Action? Overflowed;

    public void Start()
    {
        lock (_gate) ObjectDisposedException.ThrowIf(_disposed, this);
        _watcher.EnableRaisingEvents = true;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _pending.Clear();
        }

        _watcher.Dispose();
        _timer.Dispose();
    }

    private void OnChanged(object sender, FileSystemEventArgs e) => Note(e.FullPath);

    private void OnRenamed(object sender, RenamedEventArgs e)
    {
        Note(e.OldFullPath);
        Note(e.FullPath);
    }

    private void OnError(object sender, ErrorEventArgs e)
    {
        lock (_gate)
        {
            if (_disposed) return;
        }

        Overflowed?.Invoke();
    }

    /// <summary>Temp files and names that are no valid folder path are dropped here: FromFullPath refuses both.</summary>
    private void Note(string fullPath)
    {
        var path = FolderPath.FromFullPath(_root, fullPath);
        if (path is null) return;
        lock (_gate)
        {
            if (_disposed) return;
            var now = _time.GetTimestamp();
            _lastEvent = now;
            _pending[path] = _pending.TryGetValue(path, out var pending) ? pending with { Last = now } : new Pending(now, now);
            if (_armed) return;
            _armed = true;
            _timer.Change(_quiet, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnTimer()
    {
        string[] batch;
        lock (_gate)
        {
            if (_disposed) return;
            var now = _time.GetTimestamp();
            var wait = TimeUntilDue(now);
            if (wait > TimeSpan.Zero)
            {
                // Events since the timer was set pushed the moment back; the timer is only ever early, never late.
                _timer.Change(wait, Timeout.InfiniteTimeSpan);
                return;
            }

            batch = [.. _pending.Where(p => IsDue(p.Value, now)).Select(p => p.Key).Order(StringComparer.Ordinal)];
            foreach (var path in batch) _pending.Remove(path);
        }

        try
        {
            Changed?.Invoke(batch);
        }
        finally
        {
            // Events that came in during delivery did not set the timer, since it was still armed.
            lock (_gate)
            {
                _armed = !_disposed && _pending.Count > 0;
                if (_armed) _timer.Change(TimeUntilDue(_time.GetTimestamp()), Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>How long until a batch is due: the folder has been quiet for long enough, or a path has waited too long.</summary>
    private TimeSpan TimeUntilDue(long now)
    {
        var untilQuiet = _quiet - _time.GetElapsedTime(_lastEvent, now);
        var oldest = _pending.Values.Min(p => p.First);
        var untilMaxDelay = _maxDelay - _time.GetElapsedTime(oldest, now);
        var wait = untilQuiet < untilMaxDelay ? untilQuiet : untilMaxDelay;
        return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
    }

    private bool IsDue(Pending pending, long now) =>
        _time.GetElapsedTime(pending.Last, now) >= _quiet || _time.GetElapsedTime(pending.First, now) >= _maxDelay;

    /// <param name="First">When the path first changed since it was last reported.</param>
    /// <param name="Last">When it last changed.</param>
    private readonly record struct Pending(long First, long Last);
}
