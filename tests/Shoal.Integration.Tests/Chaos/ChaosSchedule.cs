using Shoal.Faults;

namespace Shoal.Integration.Tests.Chaos;

/// <summary>Something the chaos run does at a time after it starts.</summary>
internal abstract record ChaosEvent(TimeSpan At);

/// <summary>SIGKILL of a node, started again after <paramref name="DownFor"/>.</summary>
internal sealed record KillNode(TimeSpan At, int Node, TimeSpan DownFor) : ChaosEvent(At);

/// <summary>A fault on the link between two nodes (both proxies of the pair), cleared after <paramref name="Hold"/>.</summary>
internal sealed record LinkFault(TimeSpan At, int A, int B, FaultAction Action, TimeSpan Hold) : ChaosEvent(At);

internal sealed record ShareFile(TimeSpan At, int Node, int Number, long Size) : ChaosEvent(At);

/// <summary>A download of the file of <see cref="ShareFile"/> number <paramref name="Share"/>.</summary>
internal sealed record GetFile(TimeSpan At, int Node, int Share) : ChaosEvent(At);

internal sealed record PutFile(TimeSpan At, int Node, int Number, long Size) : ChaosEvent(At);

/// <summary>New content (numbered, so unique) written to a path of a node's synced folder, running or not.</summary>
internal sealed record WriteInFolder(TimeSpan At, int Node, string Path, int Number, long Size) : ChaosEvent(At);

internal sealed record DeleteInFolder(TimeSpan At, int Node, string Path) : ChaosEvent(At);

internal sealed record RenameInFolder(TimeSpan At, int Node, string From, string To) : ChaosEvent(At);

/// <summary>
/// Everything a chaos run does, when and where, drawn from one seed: the same seed gives the same schedule, so a
/// failure can be run again. (What the nodes make of it still depends on timing.)
/// </summary>
internal static class ChaosSchedule
{
    /// <summary>A few names, some in directories, so that nodes often write the same path at once.</summary>
    public static readonly IReadOnlyList<string> FolderPaths = ["a.bin", "b.bin", "notes.txt", "d/c.bin", "d/e.bin", "d/f/g.bin", "h.bin", "i.bin"];

    /// <summary>Link faults from here on can outlast the nodes' idle timeout (60 s), so a silent link must be noticed.</summary>
    private static readonly TimeSpan LongStallsAfter = TimeSpan.FromMinutes(5);

    public static IReadOnlyList<ChaosEvent> Create(int seed, int nodes, TimeSpan duration)
    {
        var random = new Random(seed);
        var events = new List<ChaosEvent>();

        var shares = 0;
        var puts = 0;
        var writes = 0;
        for (var at = TimeSpan.FromSeconds(1); at < duration; at += TimeSpan.FromMilliseconds(random.Next(150, 600)))
        {
            var node = random.Next(nodes);
            var roll = random.Next(100);
            events.Add(roll switch
            {
                < 40 => new WriteInFolder(at, node, Pick(random, FolderPaths), writes++, FolderSize(random)),
                < 48 => new DeleteInFolder(at, node, Pick(random, FolderPaths)),
                < 55 => new RenameInFolder(at, node, Pick(random, FolderPaths), Pick(random, FolderPaths)),
                < 67 => new ShareFile(at, node, shares++, random.Next(64 * 1024, 6 * 1024 * 1024)),
                < 85 when shares > 0 => new GetFile(at, node, random.Next(shares)),
                < 85 => new ShareFile(at, node, shares++, random.Next(64 * 1024, 6 * 1024 * 1024)),
                _ => new PutFile(at, node, puts++, random.Next(64 * 1024, 4 * 1024 * 1024)),
            });
        }

        for (var at = TimeSpan.FromSeconds(random.Next(3, 8)); at < duration; at += TimeSpan.FromSeconds(random.Next(6, 16)))
        {
            events.Add(new KillNode(at, random.Next(nodes), TimeSpan.FromMilliseconds(random.Next(1000, 6000))));
        }

        for (var at = TimeSpan.FromSeconds(1); at < duration; at += TimeSpan.FromMilliseconds(random.Next(1000, 3000)))
        {
            var a = random.Next(nodes);
            var b = (a + 1 + random.Next(nodes - 1)) % nodes;
            var hold = duration >= LongStallsAfter && random.Next(20) == 0
                ? TimeSpan.FromSeconds(random.Next(60, 90))
                : TimeSpan.FromMilliseconds(random.Next(1000, 6000));
            events.Add(new LinkFault(at, Math.Min(a, b), Math.Max(a, b), RandomFaults.Next(random, hold), hold));
        }

        return [.. events.OrderBy(e => e.At)];
    }

    private static string Pick(Random random, IReadOnlyList<string> from) => from[random.Next(from.Count)];

    /// <summary>Mostly small files (one chunk, sent inline with the index), some big enough for several chunks.</summary>
    private static long FolderSize(Random random) =>
        random.Next(5) == 0 ? random.Next(256 * 1024, 3 * 1024 * 1024) : random.Next(1, 64 * 1024);
}
