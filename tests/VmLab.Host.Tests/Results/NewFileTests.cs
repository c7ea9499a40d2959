using VmLab.Host.Results;

namespace VmLab.Host.Tests.Results;

public sealed class NewFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vmlab-newfile-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string P(string name) => Path.Combine(_folder, name);

    [Fact]
    public void AFileIsPlacedWhereNothingIsYet()
    {
        File.WriteAllText(P("built"), "mine");

        Assert.True(NewFile.Place(P("built"), P("new")));

        Assert.Equal("mine", File.ReadAllText(P("new")));
    }

    [Fact]
    public void WhatIsAlreadyThereIsLeftAsItWas()
    {
        File.WriteAllText(P("built"), "mine");
        File.WriteAllText(P("taken"), "theirs");
        File.WriteAllText(P("target"), "linked");
        File.CreateSymbolicLink(P("link"), P("target"));
        File.CreateSymbolicLink(P("dangling"), P("nowhere"));

        Assert.False(NewFile.Place(P("built"), P("taken")));
        Assert.False(NewFile.Place(P("built"), P("link")));
        Assert.False(NewFile.Place(P("built"), P("dangling")));

        Assert.Equal("theirs", File.ReadAllText(P("taken")));
        Assert.Equal(P("target"), new FileInfo(P("link")).LinkTarget);
        Assert.Equal("linked", File.ReadAllText(P("target")));
        Assert.Equal(P("nowhere"), new FileInfo(P("dangling")).LinkTarget);
        Assert.False(File.Exists(P("nowhere")));
        Assert.Equal("mine", File.ReadAllText(P("built")));
    }

    /// <summary>
    /// Writers released together by a barrier place their files at one path: in every round exactly one succeeds and
    /// its file is the one left there. A check followed by a rename (File.Move without overwrite on Unix) lets two of
    /// them succeed in a good share of the rounds, the later one replacing the earlier one's file.
    /// </summary>
    [Fact]
    public void OfWritersPlacingFilesAtOnePathTogetherExactlyOneSucceedsAndItsFileStays()
    {
        const int writers = 4;
        for (int round = 0; round < 200; round++)
        {
            string destination = P($"db{round}");
            var built = Enumerable.Range(0, writers).Select(i => P($"built{round}-{i}")).ToArray();
            for (int i = 0; i < writers; i++) File.WriteAllText(built[i], $"writer {i}");
            using var barrier = new Barrier(writers);
            var placed = new bool[writers];
            var unexpected = new Exception?[writers];
            var threads = Enumerable.Range(0, writers).Select(i => new Thread(() =>
            {
                barrier.SignalAndWait();
                // An exception escaping a thread would end the test process; it is kept and fails this test instead.
                try
                {
                    placed[i] = NewFile.Place(built[i], destination);
                }
                catch (Exception e)
                {
                    unexpected[i] = e;
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Assert.True(unexpected.All(e => e is null), $"round {round}: {string.Join("; ", unexpected.Where(e => e is not null).Select(e => e!.Message))}");
            var winners = Enumerable.Range(0, writers).Where(i => placed[i]).ToList();
            Assert.True(winners.Count == 1, $"round {round}: {winners.Count} writers placed their file");
            Assert.Equal($"writer {winners[0]}", File.ReadAllText(destination));
        }
    }
}
