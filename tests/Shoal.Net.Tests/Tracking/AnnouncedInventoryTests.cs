using Shoal.Core;
using Shoal.Net.Tracking;
using Shoal.Protocol;

namespace Shoal.Net.Tests.Tracking;

public sealed class AnnouncedInventoryTests
{
    private static readonly FileId A = FileId.FromBytes(Enumerable.Repeat((byte)1, 32).ToArray());
    private static readonly FileId B = FileId.FromBytes(Enumerable.Repeat((byte)2, 32).ToArray());

    [Fact]
    public void The_first_announce_is_a_reset_with_everything()
    {
        var announced = new AnnouncedInventory();

        var delta = announced.Next([Complete(A), Partial(B, 10, 0, 3)]);

        Assert.True(delta.Reset);
        Assert.Equal([A.ToString(), B.ToString()], delta.Files.Select(f => f.Id));
        Assert.Null(delta.Files[0].Chunks);
        Assert.Equal(Bitfield.FromBytes(10, Convert.FromBase64String(delta.Files[1].Chunks!)).SetIndices(), [0, 3]);
    }

    [Fact]
    public void After_a_commit_only_changes_are_sent()
    {
        var announced = new AnnouncedInventory();
        announced.Commit(announced.Next([Complete(A), Partial(B, 10, 0)]));

        Assert.True(announced.Next([Complete(A), Partial(B, 10, 0)]).IsEmpty);

        var grown = announced.Next([Complete(A), Partial(B, 10, 0, 1)]);
        Assert.False(grown.Reset);
        Assert.Equal([B.ToString()], grown.Files.Select(f => f.Id));
        announced.Commit(grown);

        var gone = announced.Next([Partial(B, 10, 0, 1)]);
        var removal = Assert.Single(gone.Files);
        Assert.Equal((A.ToString(), true), (removal.Id, removal.Removed));
    }

    [Fact]
    public void A_delta_that_was_not_confirmed_is_sent_again()
    {
        var announced = new AnnouncedInventory();
        announced.Commit(announced.Next([Complete(A)]));

        var lost = announced.Next([Complete(A), Complete(B)]);
        var retried = announced.Next([Complete(A), Complete(B)]);

        Assert.Equal(lost.Files.Select(f => f.Id), retried.Files.Select(f => f.Id));
        Assert.Equal([B.ToString()], retried.Files.Select(f => f.Id));
    }

    [Fact]
    public void A_tracker_that_forgot_the_node_gets_everything_again()
    {
        var announced = new AnnouncedInventory();
        announced.Commit(announced.Next([Complete(A), Complete(B)]));

        announced.NeedReset();
        var delta = announced.Next([Complete(A), Complete(B)]);

        Assert.True(delta.Reset);
        Assert.Equal(2, delta.Files.Count);
        Assert.DoesNotContain(delta.Files, f => f.Removed);
    }

    private static InventoryEntry Complete(FileId id) => new(id, "f" + id.ShortForm, 1000, 10, null);

    private static InventoryEntry Partial(FileId id, int chunks, params int[] have)
    {
        var field = new Bitfield(chunks);
        foreach (var i in have) field.Set(i);
        return new InventoryEntry(id, "p" + id.ShortForm, 1000, chunks, field);
    }
}
