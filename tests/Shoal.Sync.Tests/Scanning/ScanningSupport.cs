using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Shoal.Core.Folder;

namespace Shoal.Sync.Tests.Scanning;

/// <summary>A fresh directory under the system temp directory, deleted with everything in it on dispose.</summary>
public sealed class TestFolder : IDisposable
{
    public TestFolder() => Directory.CreateDirectory(Root);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "shoal-sync-tests-" + Guid.NewGuid().ToString("N"));

    /// <summary>The full path of a '/'-separated folder path.</summary>
    public string Full(string path) => Path.Combine([Root, .. path.Split('/')]);

    public string Write(string path, string text)
    {
        var full = Full(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    public string CreateDirectory(string path) => Directory.CreateDirectory(Full(path)).FullName;

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>A clock that moves only when a test says so; the scanner reads it for versions and deletion times.</summary>
public sealed class ManualClock : TimeProvider
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private long _ticks;

    public override DateTimeOffset GetUtcNow() => Start + TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>A logger that hands every message to a test, so it can act at a precise point of a scan.</summary>
public sealed class HookLogger(Action<string> onMessage) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        onMessage(formatter(state, exception));
}

/// <summary>This node's index as the scanner sees it: what a scan changed is applied like the real index would.</summary>
public sealed class TestIndex
{
    private long _sequence;

    public Dictionary<string, LocalEntry> Entries { get; } = new(StringComparer.Ordinal);

    public void Apply(IEnumerable<LocalEntry> changes)
    {
        foreach (var change in changes)
        {
            Entries[change.Record.Path] = change with { Record = change.Record with { Sequence = ++_sequence } };
        }
    }
}

internal static class Posix
{
    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    public static void CreateFifo(string path)
    {
        if (MkFifo(path, 0x1A4 /* 0o644 */) != 0) throw new IOException($"mkfifo failed: {Marshal.GetLastPInvokeError()}");
    }
}
