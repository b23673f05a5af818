using Shoal.Tracker.Nat;

namespace Shoal.Tracker.Tests;

public sealed class PunchBoardTests
{
    private static readonly TimeSpan LongWait = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_punch_wakes_the_targets_poll_with_the_senders_address_and_answers_with_the_targets()
    {
        var board = new PunchBoard(TimeProvider.System);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var a = board.WaitAsync("net", "a", "198.51.100.1:7420", LongWait, cancel.Token);
        var b = board.WaitAsync("net", "b", "203.0.113.9:40000", LongWait, cancel.Token);

        var answer = board.Punch("net", "a", "b");
        Assert.Equal("203.0.113.9:40000", answer.Address);
        var signal = Assert.Single(await b);
        Assert.Equal(("a", "198.51.100.1:7420"), (signal.Device, signal.Address));
        Assert.Equal(answer.DelayMs, signal.DelayMs);
        Assert.False(a.IsCompleted);
        await cancel.CancelAsync();
        Assert.Empty(await a);
    }

    [Fact]
    public async Task Both_must_be_polling_in_the_same_network()
    {
        var board = new PunchBoard(TimeProvider.System);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.Null(board.Punch("net", "a", "b").Address);
        var a = board.WaitAsync("net", "a", "198.51.100.1:7420", LongWait, cancel.Token);
        Assert.Contains("not polling", board.Punch("net", "a", "b").Reason, StringComparison.Ordinal);
        var other = board.WaitAsync("other", "b", "203.0.113.9:40000", LongWait, cancel.Token);
        Assert.Null(board.Punch("net", "a", "b").Address);
        Assert.Null(board.Punch("other", "b", "a").Address);
        await cancel.CancelAsync();
        Assert.All(await Task.WhenAll(a, other), Assert.Empty);
    }

    [Fact]
    public async Task A_signal_sent_between_polls_waits_for_the_next_one_and_the_queue_is_bounded()
    {
        var board = new PunchBoard(TimeProvider.System);
        Assert.Empty(await board.WaitAsync("net", "b", "203.0.113.9:40000", TimeSpan.Zero, CancellationToken.None));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var a = board.WaitAsync("net", "a", "198.51.100.1:7420", LongWait, cancel.Token);
        for (var i = 0; i < PunchBoard.MaxQueued + 3; i++) Assert.NotNull(board.Punch("net", "a", "b").Address);
        Assert.Equal(PunchBoard.MaxQueued, (await board.WaitAsync("net", "b", "203.0.113.9:40000", LongWait, cancel.Token)).Count);
        await cancel.CancelAsync();
        Assert.Empty(await a);
    }
}
