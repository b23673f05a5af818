using System.Text;
using Shoal.Core.Folder;
using Shoal.Fuzz.Tests.Engine;
using Shoal.Protocol;
using Shoal.Sync;

namespace Shoal.Fuzz.Tests.Targets;

/// <summary>
/// Synced-folder index records: IndexRequest and IndexUpdate frames through the codec (canonical, as for every
/// frame), then every decoded record where the sync layer takes it: <see cref="FolderPath.IsValid"/> on its path,
/// and for a path it accepts <see cref="FolderPath.ToFullPath"/> (which must stay inside the folder) and
/// <see cref="FolderPath.TempNameFor"/>; and the <see cref="Reconciler"/> on the records against nothing, against
/// themselves and against each other, which must never throw and never let both sides of a conflict win.
/// </summary>
internal sealed class IndexTarget : ByteTarget
{
    private const int MaxPairedRecords = 12;

    private static readonly string Root = Path.Combine(Path.GetTempPath(), "shoal-fuzz-folder");
    private static readonly string RootPrefix = Root + Path.DirectorySeparatorChar;

    public override string Name => "index";

    public override IReadOnlyList<byte[]> ValidSeeds { get; } = [.. Corpus.IndexMessages.Select(FrameCodec.Encode)];

    public override int StructuralPercent => 70;

    public override byte[]? MutateStructurally(Random random, byte[] input, byte[] other) =>
        Frames.MutateInsideFrame(random, input, other, Mutator);

    public override Outcome Execute(byte[] input)
    {
        var reads = Frames.ReadAll(new(input));
        var signature = new StringBuilder(Frames.Describe(reads));
        foreach (var read in reads)
        {
            if (read.Message is IndexUpdate update) CheckRecords(update.Records, signature);
        }

        return new Outcome(Frames.VerdictOf(reads), signature.ToString());
    }

    private static void CheckRecords(IReadOnlyList<FileRecord> records, StringBuilder signature)
    {
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            var valid = FolderPath.IsValid(record.Path, out var error);
            if (valid == (error.Length > 0)) throw new InvariantViolationException($"IsValid({TextTarget.Quote(record.Path)}) is {valid} with error '{error}'");
            if (valid)
            {
                var full = FolderPath.ToFullPath(Root, record.Path);
                if (!full.StartsWith(RootPrefix, StringComparison.Ordinal) || !Path.GetFullPath(full).StartsWith(RootPrefix, StringComparison.Ordinal))
                {
                    throw new InvariantViolationException($"the valid path {TextTarget.Quote(record.Path)} resolves outside the folder: {full}");
                }

                FolderPath.TempNameFor(record.Path, record.Content);
            }

            var fresh = Reconciler.Decide(null, record);
            var self = Reconciler.Decide(record, record);
            if (self.Action != SyncAction.None) throw new InvariantViolationException($"a record against itself decides {self.Action}");
            if (i < 8)
            {
                // What kind of record reached which check: the path's verdict (its first words) and the decision.
                var reason = valid ? "ok" : string.Join(' ', Signature.Normalize(error).Split(' ').Take(5));
                signature.Append('|').Append(record.Kind).Append(record.Deleted ? "-" : "+").Append(record.Manifest is null ? "" : "m")
                    .Append(' ').Append(reason).Append(' ').Append(fresh.Action);
            }
        }

        var paired = Math.Min(records.Count, MaxPairedRecords);
        for (var i = 0; i < paired; i++)
        {
            for (var j = 0; j < paired; j++)
            {
                if (i == j) continue;
                var (a, b) = (records[i], records[j]);
                Reconciler.Decide(a, b);
                if (Reconciler.RemoteWins(a, b) && Reconciler.RemoteWins(b, a))
                {
                    throw new InvariantViolationException($"records {i} and {j} both win against each other");
                }
            }
        }
    }
}
