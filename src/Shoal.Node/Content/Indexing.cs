using System.Collections.Concurrent;

namespace Shoal.Node.Content;

/// <summary>
/// Shares and puts whose files are being hashed: a request blocks until its files are indexed, so a client polls
/// this (<c>GET /api/indexing</c>) to show how far the hashing is.
/// </summary>
public sealed class IndexingRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<IndexingJob, byte> _jobs = new();

    public IReadOnlyCollection<IndexingJob> Active => [.. _jobs.Keys.OrderBy(j => j.Started)];

    /// <summary>
    /// A job for <paramref name="files"/> (what <paramref name="requested"/> expanded to); disposing it ends it.
    /// </summary>
    public IndexingJob Start(string kind, IReadOnlyList<string> requested, IReadOnlyList<string> files)
    {
        var bytes = files.Sum(f => new FileInfo(f) is { Exists: true } info ? info.Length : 0);
        var job = new IndexingJob(kind, requested, files.Count, bytes, time, ended => _jobs.TryRemove(ended, out _));
        _jobs[job] = 0;
        return job;
    }
}

/// <summary>One request's hashing: which file of how many, and bytes hashed of all of them.</summary>
public sealed class IndexingJob : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Action<IndexingJob> _end;
    private readonly FileProgress _progress;
    private long _finishedBytes;
    private long _currentBytes;
    private long _currentSize;
    private int _file;
    private string _current = "";

    internal IndexingJob(string kind, IReadOnlyList<string> paths, int files, long bytes, TimeProvider time, Action<IndexingJob> end)
    {
        Kind = kind;
        Paths = paths;
        Files = files;
        Bytes = bytes;
        _time = time;
        _end = end;
        _progress = new FileProgress(this);
        Started = time.GetUtcNow();
    }

    /// <summary>share or put.</summary>
    public string Kind { get; }

    /// <summary>The paths the request named (absolute), so that a client finds its own job.</summary>
    public IReadOnlyList<string> Paths { get; }

    public int Files { get; }

    /// <summary>Total size of the files when the job started.</summary>
    public long Bytes { get; }

    public DateTimeOffset Started { get; }

    /// <summary>1-based number of the file being hashed (0 before the first).</summary>
    public int File => Volatile.Read(ref _file);

    public string Current => Volatile.Read(ref _current);

    public long BytesDone => Math.Min(Bytes, Interlocked.Read(ref _finishedBytes) + Interlocked.Read(ref _currentBytes));

    public long BytesPerSecond
    {
        get
        {
            var seconds = (_time.GetUtcNow() - Started).TotalSeconds;
            return seconds > 0 ? (long)(BytesDone / seconds) : 0;
        }
    }

    /// <summary>The previous file is done; <paramref name="path"/> is next. The result receives its bytes hashed so far.</summary>
    public IProgress<long> Next(string path)
    {
        Interlocked.Add(ref _finishedBytes, Interlocked.Exchange(ref _currentSize, new FileInfo(path) is { Exists: true } info ? info.Length : 0));
        Interlocked.Exchange(ref _currentBytes, 0);
        Volatile.Write(ref _current, path);
        Interlocked.Increment(ref _file);
        return _progress;
    }

    public void Dispose() => _end(this);

    private sealed class FileProgress(IndexingJob job) : IProgress<long>
    {
        public void Report(long value) => Interlocked.Exchange(ref job._currentBytes, value);
    }
}
