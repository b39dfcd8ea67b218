namespace Mlx.Cli;

/// <summary>Entry point: <c>mlx COMMAND ARGS...</c>, dispatched to one class per command.</summary>
public static class Program
{
    private delegate int Command(string[] args, TextWriter stdout, TextWriter stderr);

    private static readonly Dictionary<string, (Command Run, string Summary)> s_commands = new(StringComparer.Ordinal)
    {
        ["inspect"] = (InspectCommand.Run, "inspect [--json] FILE...   describe .npy/.npz/.safetensors/.gguf files"),
        ["train"] = (TrainCommand.Train, "train mnist [--model mlp|cnn] [--epochs N] ...   train on the MNIST digits shipped with the tool"),
        ["sign"] = (TrustCommands.Sign, "sign --key KEY.pem [--cert CHAIN.pem] MODEL_DIR   sign a model folder (writes MODEL_DIR/model.sig, OpenSSF Model Signing)"),
        ["verify"] = (TrustCommands.Verify, "verify (--key PUB.pem | --cert-chain CHAIN.pem) MODEL_DIR   verify a model folder's model.sig"),
        ["keygen"] = (TrustCommands.Keygen, "keygen --out PREFIX   write a P-256 key pair PREFIX.pem (0600) and PREFIX.pub.pem"),
        ["eval"] = (TrainCommand.Eval, "eval mnist --weights FILE [--model mlp|cnn]   test accuracy of saved weights"),
    };

    /// <summary>Process entry point.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs a command line with the given output writers; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                Usage(args.Length == 0 ? stderr : stdout);
                return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
            }
            if (args[0] == Mlx.Formats.Trust.IsolatedLoader.ChildVerb)
            {
                return TrustCommands.LoadChild(args[1..], stdout, stderr);
            }
            if (!s_commands.TryGetValue(args[0], out var command))
            {
                stderr.WriteLine($"mlx: unknown command '{args[0]}'");
                Usage(stderr);
                return ExitCodes.Usage;
            }
            return command.Run(args[1..], stdout, stderr);
        }
        catch (Exception e)
        {
            // Never a stack trace: one line, and a distinct exit code for "our bug", not "your file".
            stderr.WriteLine($"mlx: internal error: {e.GetType().Name}: {e.Message}");
            return ExitCodes.Internal;
        }
    }

    private static void Usage(TextWriter w)
    {
        w.WriteLine("usage: mlx <command> [args]");
        foreach ((_, string summary) in s_commands.Values)
        {
            w.WriteLine("  mlx " + summary);
        }
    }
}
