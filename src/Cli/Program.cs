namespace Mlx.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: mlx <command> ...");
        return 2;
    }
}
