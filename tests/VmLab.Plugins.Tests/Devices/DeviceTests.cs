using VmLab.Plugins.Devices;

namespace VmLab.Plugins.Tests.Devices;

/// <summary>The device plugins' emulated loads and stores, as the kernel's device trap calls them.</summary>
public sealed class DeviceTests
{
    [Fact]
    public void AFramebufferLoadReturnsWhatWasStoredLittleEndianAtEverySize()
    {
        var fb = new Framebuffer(new FramebufferOptions { Name = "fb", Size = 64 });
        fb.Write(8, 8, 0x1122_3344_5566_7788);
        Assert.Equal(0x1122_3344_5566_7788UL, fb.Read(8, 8));
        Assert.Equal(0x88UL, fb.Read(8, 1));
        Assert.Equal(0x5566_7788UL, fb.Read(8, 4));
        Assert.Equal(0x3344UL, fb.Read(12, 2));
        fb.Write(9, 2, 0xAABB); // a store inside the word replaces only its bytes
        Assert.Equal(0x1122_3344_55AA_BB88UL, fb.Read(8, 8));
        Assert.Equal(0UL, fb.Read(0, 8)); // never written
    }

    [Fact]
    public void AFramebufferDropsTheBytesOfAStorePastItsEndAndReadsThemAsZero()
    {
        var fb = new Framebuffer(new FramebufferOptions { Size = 16 });
        fb.Write(12, 8, 0x1122_3344_5566_7788); // bytes 12..15 kept, 16..19 dropped
        Assert.Equal(0x5566_7788UL, fb.Read(12, 8));
        Assert.Equal(0UL, fb.Read(16, 4));
        Assert.Equal("fb", fb.Name);
    }

    [Fact]
    public void ALogDeviceAppendsOneLinePerStoreAndALoadReturnsTheStoreCount()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vmlab-log-device-{Guid.NewGuid():N}.txt");
        try
        {
            var log = new LogDevice(new LogDeviceOptions { Name = "uart" }, path);
            Assert.Equal(0UL, log.Read(0, 8));
            log.Write(0x10, 4, 0xdead_beef);
            log.Write(0x18, 1, 0x41);
            Assert.Equal(2UL, log.Read(0, 8));
            Assert.Equal("10 4 deadbeef\n18 1 41\n", File.ReadAllText(path));
            Assert.Equal("uart", log.Name);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ALogDeviceWithoutAPathCountsStoresAndWritesNothing()
    {
        var log = new LogDevice(new LogDeviceOptions(), null);
        log.Write(0, 8, 1);
        Assert.Equal(1UL, log.Read(0, 1));
    }
}
