using System.Reflection;
using System.Security.Cryptography;
using Shoal.Core;
using Shoal.Net.Tracking;
using Xunit.Sdk;

namespace Shoal.Tracker.Tests;

public enum Backend
{
    Sqlite,
    Postgres,
}

/// <summary>Runs a theory on SQLite.</summary>
public sealed class SqliteDataAttribute : DataAttribute
{
    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[Backend.Sqlite]];
}

/// <summary>Runs a theory on PostgreSQL, or shows it skipped, with the reason, where there is no PostgreSQL to run on.</summary>
public sealed class PostgresDataAttribute : DataAttribute
{
    public PostgresDataAttribute()
    {
        if (PostgresFixture.SkipReason is { } reason) Skip = reason;
    }

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => [[Backend.Postgres]];
}

/// <summary>A fresh, empty database of one backend, for one test.</summary>
public sealed class TestDatabase : IDisposable
{
    private readonly TempDirectory? _directory;

    private TestDatabase(string database, TempDirectory? directory)
    {
        Database = database;
        _directory = directory;
    }

    /// <summary>What <see cref="TrackerOptions.Database"/> takes.</summary>
    public string Database { get; }

    public static async Task<TestDatabase> CreateAsync(Backend backend, PostgresFixture postgres)
    {
        if (backend == Backend.Postgres) return new TestDatabase(await postgres.CreateDatabaseAsync(), null);
        var directory = new TempDirectory();
        return new TestDatabase(directory.Combine("tracker.db"), directory);
    }

    public void Dispose() => _directory?.Dispose();
}

/// <summary>A fresh directory under the system temp directory, deleted with everything in it on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "shoal-tracker-tests-" + Guid.NewGuid().ToString("N"));

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>A clock that moves only when a test says so; its timers never fire (the tests sweep when they mean to).</summary>
public sealed class ManualTime : TimeProvider
{
    public static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private long _ticks = Start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new DormantTimer();

    private sealed class DormantTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>A device of a network as the store sees it: every call it makes carries a new nonce.</summary>
public sealed class TestDevice(string network, DeviceId id)
{
    public TestDevice()
        : this(NewNetwork())
    {
    }

    public TestDevice(string network)
        : this(network, DeviceId.FromBytes(RandomNumberGenerator.GetBytes(Hash256.Size)))
    {
    }

    public DeviceId Id { get; } = id;

    public string Network { get; } = network;

    public string Hex => Id.Value.ToHex();

    public static string NewNetwork() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static string NewNonce() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public TrackerSender Sign(DateTimeOffset at) => new(Id, Hex, Network, NewNonce(), at);

    public TestDevice Peer() => new(Network);

    /// <summary>The same device as a member of another network.</summary>
    public TestDevice In(string otherNetwork) => new(otherNetwork, Id);
}

public static class TestFiles
{
    public static string NewId() => FileId.FromBytes(RandomNumberGenerator.GetBytes(Hash256.Size)).ToString();

    public static byte[] Bits(int chunkCount, params int[] set)
    {
        var field = new Bitfield(chunkCount);
        foreach (var index in set) field.Set(index);
        return field.ToArray();
    }
}
