using Mlx.Formats.Trust;

// The isolated-load child for tests: `childhost __load-child [--max-file-bytes N] [--] FILE`, as `mlx` receives it.
// A FILE ending in .spin, .allocate, .sleep, .garbage or .lie makes the child misbehave, to test the parent.
if (args.Length == 0 || args[0] != IsolatedLoader.ChildVerb)
{
    Console.Error.WriteLine("usage: childhost __load-child FILE");
    return 2;
}
string file = args[^1];
using Stream stdout = Console.OpenStandardOutput();
switch (Path.GetExtension(file))
{
    case ".spin":
        long n = 0;
        while (true)
        {
            n++;
        }
    case ".allocate":
        var hog = new List<byte[]>();
        while (true)
        {
            byte[] block = new byte[1 << 20];
            block.AsSpan().Fill(1);
            hog.Add(block);
        }
    case ".sleep":
        Thread.Sleep(Timeout.Infinite);
        return 0;
    case ".garbage":
        stdout.Write("MLXISO1\nT\u00ff\u00ff\u00ff\u007f"u8);
        return 0;
    case ".lie":
        // One float32 tensor of shape [4] that claims 16 bytes but sends 3.
        stdout.Write([.. "MLXISO1\nT"u8, 1, 0, 0, 0, (byte)'x', 10, 1, 4, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
        return 0;
}
return IsolatedLoader.RunChild(args[1..], stdout, Console.Error);
