from update_job.launch import main

main()
